"""Long video through the pipeline: windows equal the plain sampler when one window covers the clip, the
sidecar records the windows, a long run on the tiny model writes every frame."""

import dataclasses
import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest
from PIL import Image

from vitascope.errors import InvalidOptionError
from vitascope.pipelines.loader import load_pipeline
from vitascope.pipelines.options import GenerationOptions
from vitascope.pipelines.tiny import write_tiny_model

PROMPT = "a red circle moving right on a black background"


def run_cli(*args):
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "vitascope.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def _pipe(folder, native_frames=9):
    pipe = load_pipeline(folder, device="cpu")
    pipe.defaults = dataclasses.replace(pipe.defaults, frames=native_frames)  # 3 latent frames per clip
    return pipe


@pytest.fixture(scope="module")
def tr_model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny_tr"))


@pytest.fixture(scope="module")
def t2v_model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny_t2v"), i2v_mode=None)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("img") / "first.png"
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
    return str(path)


def _opts(frames, window=None, **kw):
    extra = {"window": window} if window else {}
    return GenerationOptions(prompt=PROMPT, frames=frames, steps=3, seed=5, extra=extra, **kw)


@pytest.mark.parametrize("window", ["musev", "shifted"])
def test_one_window_equals_plain_i2v(tr_model, image, window):
    pipe = _pipe(tr_model)
    plain = pipe.generate(_opts(9, "none", task="i2v", image=image))
    windowed = pipe.generate(_opts(9, window, task="i2v", image=image))
    rec = windowed.metadata["windows"]
    assert rec["context"] == "image" and rec["latent_windows"] == [[[1, 2]]] * 3
    np.testing.assert_allclose(windowed.video, plain.video, atol=1e-5)


def test_one_window_equals_plain_t2v_without_token_replace(t2v_model):
    pipe = _pipe(t2v_model)
    plain = pipe.generate(_opts(9, "none"))
    windowed = pipe.generate(_opts(9, "musev"))
    assert windowed.metadata["windows"]["context"] is None
    np.testing.assert_allclose(windowed.video, plain.video, atol=1e-5)
    assert "windows" not in plain.metadata


def test_long_t2v_windows_progress_and_record(tr_model):
    pipe = _pipe(tr_model)
    seen = []
    res = pipe.generate(_opts(33), progress=lambda i, n: seen.append((i, n)))  # 9 latent frames
    rec = res.metadata["windows"]
    assert res.video.shape[0] == 33
    assert rec["kind"] == "musev" and rec["context"] == "first clip"
    assert (rec["size"], rec["overlap"]) == (2, 1)  # 3 latent frames per clip, one is the condition
    # MuseV's rule on frames 1..8: starts 1, 2, ..., 7 (the window starting at 8 ends where the last one does)
    assert rec["latent_windows"][0] == [[s, s + 1] for s in range(1, 8)]
    total = 3 + sum(rec["windows_per_step"])  # the first clip's steps, then windows x steps
    assert seen[-1] == (total, total) and [i for i, _ in seen] == list(range(1, total + 1))
    assert rec["pixel_ranges"][0] == [1, 8] and rec["pixel_ranges"][-1] == [25, 32]


def test_windows_change_the_long_video(tr_model):
    pipe = _pipe(tr_model)
    a = pipe.generate(_opts(17, "musev")).video
    b = pipe.generate(_opts(17, "shifted")).video
    c = pipe.generate(_opts(17, "none")).video
    assert a.shape == b.shape == c.shape == (17, 32, 32, 3)
    assert np.abs(a - b).max() > 1e-3 and np.abs(a - c).max() > 1e-3


def test_bad_window_options(tr_model):
    pipe = _pipe(tr_model)
    with pytest.raises(InvalidOptionError, match="window must be one of"):
        pipe.generate(_opts(17, "zigzag"))
    with pytest.raises(InvalidOptionError, match="riflex"):
        pipe.generate(GenerationOptions(prompt=PROMPT, frames=17, extra={"window": "musev", "riflex": True}))


def test_cli_long_run_writes_every_frame(tr_model, tmp_path):
    out = tmp_path / "long.mp4"
    r = run_cli(
        "generate",
        "--model",
        str(tr_model),
        "--prompt",
        PROMPT,
        "--frames",
        "21",
        "--steps",
        "2",
        "--seed",
        "3",
        "--window",
        "shifted",
        "--output",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 21
    side = json.loads(out.with_name("long.mp4.json").read_text())
    assert side["windows"]["kind"] == "shifted" and side["frames"] == 21
    assert side["options"]["extra"]["window"] == "shifted"
    r = run_cli("generate", "--model", str(tr_model), "--prompt", PROMPT, "--window", "zigzag")
    assert r.returncode == 2 and "error: --window must be one of" in r.stderr
