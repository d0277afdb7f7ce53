"""The speed vocabulary end to end: `vitascope generate` with --cache/--quantize/--offload/--attention on the
tiny model writes each setting and the DiT call count to the sidecar; bad values give one error line; --plan."""

import json
import os
import subprocess
import sys

import pytest

from vitascope.pipelines.tiny import write_tiny_model

ARGS = ["--prompt", "a red circle", "--height", "32", "--width", "32", "--frames", "5", "--seed", "3"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny"))


def _run(*args, launcher=("-m", "vitascope.cli")):
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, *launcher, *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_speed_options_reach_the_sidecar(model, tmp_path):
    out = tmp_path / "v.mp4"
    r = _run(
        "generate", "--model", str(model), *ARGS, "--steps", "6", "--output", str(out),
        "--cache", "fbcache:1e9", "--quantize", "fp8", "--offload", "block", "--attention", "math",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    speed = json.loads((tmp_path / "v.mp4.json").read_text())["speed"]
    assert speed["offload"] == "block" and speed["quantize"] == "fp8" and speed["attention"] == "math"
    assert speed["cache"] == "fbcache:1e+09"
    assert speed["dit_calls"] == {"full": 1, "cached": 5}  # cfg 1 on the tiny model: one branch


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--cache", "warp"], "--cache must be POLICY[:THRESHOLD]"),
        (["--offload", "disk"], "--offload must be 'model' or 'block'"),
        (["--attention", "nope"], "attention backend must be one of"),
        (["--sp", "tree"], "--sp must be one of"),
        (["--cuda-graphs", "--offload", "block"], "use one or the other"),
        (["--cuda-graphs", "--device", "cpu"], "--cuda-graphs needs a CUDA device"),
    ],
)
def test_bad_speed_options_fail_clearly(model, tmp_path, args, expected):
    r = _run("generate", "--model", str(model), *ARGS, "--output", str(tmp_path / "x.mp4"), *args)
    assert r.returncode == 2 and expected in r.stderr and "Traceback" not in r.stderr


def test_plan_prints_residency_and_peak(model, tmp_path):
    r = _run(
        "generate", "--model", str(model), *ARGS, "--plan", "--offload", "block", "--quantize", "fp8",
        "--memory-budget", "0.0001",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "dit" in r.stdout and "expected peak on cpu" in r.stdout
    # 0.1 MiB cannot hold the untiled decode of even 32x32 frames: the smallest tiles, and it says so
    assert "vae decode: estimate" in r.stdout and "--memory-budget" in r.stdout
    assert "spatial tiles 64x64" in r.stdout and "does not fit even so" in r.stdout
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.timeout(400)
def test_torchrun_two_processes_write_what_one_process_writes(model, tmp_path):
    """`torchrun --nproc_per_node 2 vitascope generate` (gloo, sequence parallel): rank 0 writes the same frames."""
    import numpy as np
    from PIL import Image

    common = ("generate", "--model", str(model), *ARGS, "--width", "48", "--steps", "3")
    one = _run(*common, "--output", f"{tmp_path}/one/")
    assert one.returncode == 0, one.stderr
    two = _run(
        "--nproc_per_node", "2", "-m", "vitascope.cli", *common, "--output", f"{tmp_path}/two/",
        launcher=("-m", "torch.distributed.run"),
    )  # fmt: skip
    assert two.returncode == 0, two.stderr
    assert "sequence parallel over 2 ranks" in two.stderr
    names = sorted(p.name for p in (tmp_path / "one").glob("*.png"))
    assert len(names) == 5 and names == sorted(p.name for p in (tmp_path / "two").glob("*.png"))
    for n in names:
        a = np.asarray(Image.open(tmp_path / "one" / n), dtype=np.int16)
        b = np.asarray(Image.open(tmp_path / "two" / n), dtype=np.int16)
        assert np.abs(a - b).max() <= 1, n  # <= 1e-3 on [0, 1] frames, then 8-bit rounding
