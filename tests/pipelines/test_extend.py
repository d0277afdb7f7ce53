"""`vitascope extend`: continue a shapes-world clip with the demo model; the join is seamless and the output
is the original followed by the new frames (the condition frame is not repeated)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vitascope.errors import InvalidOptionError
from vitascope.media import read_video, write_video
from vitascope.pipelines.extend import generation_frames
from vitascope.synthetic import render, sample_scene

PROMPT = "a red circle moving right on a black background"


def run_cli(*args):
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "vitascope.cli", *args], capture_output=True, text=True, env=env, timeout=600
    )


def _changes(frames: np.ndarray) -> np.ndarray:
    """Mean absolute change between consecutive frames, [F - 1]."""
    f = frames.astype(np.float32)
    return np.abs(f[1:] - f[:-1]).mean(axis=(1, 2, 3))


def test_generation_frames():
    assert [generation_frames(n) for n in (1, 4, 5, 8, 16)] == [5, 5, 9, 9, 17]
    with pytest.raises(InvalidOptionError):
        generation_frames(0)


def test_extend_shapes_clip_is_seamless(tmp_path):
    spec = sample_scene(
        3,
        frames=17,
        n_objects=1,
        shape="circle",
        colour="red",
        motion="moving right",
        background="black",
        camera="static",
    )
    src = tmp_path / "clip.mp4"
    write_video(render(spec), src, fps=8)
    original, _ = read_video(src)
    out = tmp_path / "longer.mp4"
    r = run_cli(
        "extend",
        str(src),
        "--prompt",
        PROMPT,
        "--frames",
        "8",
        "--steps",
        "8",
        "--seed",
        "1",
        "--device",
        "cpu",
        "--output",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    video, fps = read_video(out)
    assert len(video) == 17 + 8 and fps == 8
    # the original comes back first (within the codec's rounding), the condition frame is not repeated
    assert np.abs(video[:17].astype(int) - original.astype(int)).mean() < 2.0
    ch = _changes(video)
    join = ch[16]  # original frame 16 -> first new frame
    within = np.median(np.concatenate([ch[:16], ch[17:]]))
    assert join <= 2 * within, (join, within, ch.round(2))
    assert np.abs(video[17].astype(int) - video[16].astype(int)).max() > 0  # a new frame, not a copy
    side = json.loads(out.with_name("longer.mp4.json").read_text())
    assert side["source_frames"] == 17 and side["new_frames"] == 8 and side["condition"] == "last frame"


def test_extend_errors(tmp_path):
    r = run_cli("extend", str(tmp_path / "missing.mp4"), "--prompt", PROMPT, "--frames", "4")
    assert r.returncode == 2 and "error: video file not found" in r.stderr
    r = run_cli("extend", str(tmp_path / "missing.mp4"), "--prompt", PROMPT, "--frames", "0")
    assert r.returncode == 2 and "error: --frames" in r.stderr
