"""`vitascope generate` end to end on a tiny model folder written by the test, and its clear errors."""

import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vitascope import cli
from vitascope.pipelines.tiny import write_tiny_model

PROMPT = "a green triangle moving left on a black background"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny"))


def _run(*args):
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")  # also works without an install
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "vitascope.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_generate_mp4_with_sidecar(model, tmp_path):
    out = tmp_path / "clip.mp4"
    r = _run(
        "generate",
        "--model",
        str(model),
        "--prompt",
        PROMPT,
        "--height",
        "48",
        "--width",
        "32",
        "--frames",
        "9",
        "--steps",
        "2",
        "--seed",
        "11",
        "--fps",
        "12",
        "--output",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "seed 11" in r.stdout
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(stream)]
        assert stream.codec_context.name == "h264"
    assert len(frames) == 9 and frames[0].shape == (48, 32, 3)
    meta = json.loads((tmp_path / "clip.mp4.json").read_text())
    o = meta["options"]
    assert (o["prompt"], o["height"], o["width"], o["frames"], o["steps"], o["seed"]) == (
        PROMPT,
        48,
        32,
        9,
        2,
        11,
    )
    assert {"flow_shift", "guidance", "cfg_scale", "negative_prompt"} <= set(o)
    assert meta["fps"] == 12 and meta["model"]["name"] == "vitascope-tiny" and meta["model"]["config_sha256"]


def test_png_folder_and_i2v(model, tmp_path):
    img = np.zeros((40, 40, 3), np.uint8)
    img[10:30, 12:28] = (255, 255, 0)
    Image.fromarray(img).save(tmp_path / "first.png")
    runner = CliRunner()
    cli._register()
    out = str(tmp_path / "frames") + "/"
    r = runner.invoke(
        cli.app,
        [
            "generate",
            "--model",
            str(model),
            "--prompt",
            PROMPT,
            "--image",
            str(tmp_path / "first.png"),
            "--seed",
            "2",
            "--output",
            out,
        ],
    )
    assert r.exit_code == 0, r.output
    pngs = sorted((tmp_path / "frames").glob("*.png"))
    assert [p.name for p in pngs] == [f"{i:05d}.png" for i in range(5)]
    meta = json.loads((tmp_path / "frames" / "metadata.json").read_text())
    assert meta["options"]["task"] == "i2v" and meta["options"]["image"].endswith("first.png")
    # a model trained at one size generates I2V at that size (not an official 720p bucket) when none is given
    assert Image.open(pngs[0]).size == (32, 32)


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--height", "50"], "multiple of 16"),
        (["--frames", "8"], "4k+1"),
        (["--steps", "0"], "steps must be"),
        (["--cfg-scale", "0.5"], "cfg_scale"),
        (["--dtype", "int8"], "dtype must be one of"),
    ],
)
def test_bad_options_fail_clearly(model, tmp_path, args, expected):
    r = _run_inproc(
        ["generate", "--model", str(model), "--prompt", "x", "--output", str(tmp_path / "o.mp4"), *args]
    )
    assert r.exit_code == 2 and expected in r.output
    assert not (tmp_path / "o.mp4").exists()


def test_bad_files_fail_clearly(model, tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    r = _run_inproc(
        ["generate", "--model", str(model), "--prompt", "x", "--image", str(tmp_path / "notes.png")]
    )
    assert r.exit_code == 2 and "notes.png" in r.output
    r = _run_inproc(["generate", "--model", str(tmp_path / "missing"), "--prompt", "x"])
    assert r.exit_code == 2 and "does not exist" in r.output
    r = _run_inproc(["generate", "--model", str(tmp_path), "--prompt", "x"])
    assert r.exit_code == 2 and "not a model folder" in r.output


def _run_inproc(args):
    """The real CLI in-process; VitascopeErrors become exit code 2 with the message, as in `main()`."""
    from vitascope.errors import VitascopeError

    cli._register()
    r = CliRunner().invoke(cli.app, args)
    if isinstance(r.exception, VitascopeError):
        return Outcome(2, r.output + str(r.exception))
    return Outcome(r.exit_code, r.output)


class Outcome:
    def __init__(self, exit_code, output):
        self.exit_code, self.output = exit_code, output
