"""Long motion in the world: default scenes unchanged, long paths that last, captions, per-window scoring."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from vitascope.errors import InvalidOptionError
from vitascope.synthetic import canonical_caption, object_alpha, parse_canonical, render, sample_scene
from vitascope.synthetic.long import analyze_long, score_long, window_starts, window_truth
from vitascope.synthetic.world import NATIVE_FRAMES, TRAVEL, world_positions

# sha256 (first 16 hex digits) of render(sample_scene(**args)), recorded before long paths were added: the
# default world (and every recipe that draws from it) must not change.
DEFAULT_RENDERS = [
    (dict(seed=0), "911fd65d81abacf1"),
    (dict(seed=1, frames=33), "3d12cdfe5eb003d8"),
    (dict(seed=5, travel_range=(0.5, 1.0)), "4b0d808d27015c85"),
    (dict(seed=11, frames=1), "8cc1eae3c01a770a"),
    (dict(seed=3, height=48, width=80, n_objects=2), "57f842dc20750bc3"),
    (dict(seed=7, camera="panning left"), "5a5b40820db2911a"),
]


@pytest.mark.parametrize("args,digest", DEFAULT_RENDERS)
def test_default_scenes_are_unchanged(args, digest):
    spec = sample_scene(**args)
    assert all(o.path == "straight" for o in spec.objects)
    assert hashlib.sha256(render(spec).tobytes()).hexdigest()[:16] == digest


@pytest.mark.parametrize("path", ["bounce", "wrap", "stop and go"])
def test_long_paths_last_and_keep_speed(path):
    spec = sample_scene(3, frames=169, path=path, n_objects=2, motion="moving right")
    assert spec.camera == "static" and len(spec.objects) == 2
    obj = spec.objects[0]
    assert obj.path == path
    xy = world_positions(spec, obj)
    step = np.abs(np.diff(xy[:, 0]))
    step = np.minimum(step, spec.width - step)  # a wrap jumps by a frame width
    speed = TRAVEL * spec.width / (NATIVE_FRAMES - 1)
    moving = step > 1e-6
    assert moving.mean() > (0.5 if path == "stop and go" else 0.99)
    assert np.allclose(step[moving], speed, atol=0.02 * speed + 1e-6) or path != "wrap"
    # it keeps moving to the end (no object stuck against an edge) and never leaves the frame
    assert moving[-40:].any()
    for k in range(len(spec.objects)):
        alpha = object_alpha(spec, k)  # [T, H, W]
        area = alpha.sum(axis=(1, 2))
        assert np.allclose(area, area[0], rtol=0.02)  # fully visible (a wrap shows on both sides)
    if path == "bounce":
        assert set(np.sign(np.diff(xy[:, 0])).astype(int)) == {-1, 1}  # it turned back


def test_long_scene_rules():
    a, b = sample_scene(4, frames=65, path="mixed"), sample_scene(4, frames=65, path="mixed")
    assert a == b and np.array_equal(render(a), render(b))
    for seed in range(12):
        spec = sample_scene(seed, frames=65, path="mixed", n_objects=3)
        axes = {
            o.motion in ("moving left", "moving right") for o in spec.objects if o.motion != "staying still"
        }
        assert len(axes) <= 1  # moving objects keep to lanes of one axis
    with pytest.raises(InvalidOptionError, match="static camera"):
        sample_scene(0, frames=65, path="bounce", camera="panning left")
    with pytest.raises(InvalidOptionError, match="unknown path"):
        sample_scene(0, frames=65, path="zigzag")
    with pytest.raises(InvalidOptionError, match="n_objects"):
        sample_scene(0, frames=65, path="wrap", n_objects=4)


def test_long_captions_round_trip():
    spec = sample_scene(2, frames=65, path="mixed", n_objects=3)
    text = canonical_caption(spec)
    parsed = parse_canonical(text)
    assert [o.get("path", "straight") for o in parsed["objects"]] == [o.path for o in spec.objects]
    spec1 = sample_scene(
        0, frames=65, path="wrap", n_objects=1, colour="red", motion="moving left", background="black"
    )
    assert canonical_caption(spec1).startswith("a red ") and canonical_caption(spec1).endswith(
        " moving left and wrapping around on a black background"
    )


def test_window_starts():
    assert window_starts(17) == [0]
    assert window_starts(161) == list(range(0, 145, 16))  # 10 windows sharing their end frames
    assert window_starts(169)[-1] == 152  # the last one flush with the end
    assert window_starts(170)[-1] == 170 - 17 and window_starts(170)[-2] == 144


@pytest.mark.parametrize("path,frames,n", [("bounce", 169, 1), ("wrap", 65, 2), ("stop and go", 97, 2)])
def test_long_clip_scored_per_window(path, frames, n):
    spec = sample_scene(1, frames=frames, path=path, n_objects=n)
    video = render(spec)
    result = analyze_long(video, wrap=path == "wrap")
    score = score_long(result, spec)
    assert score["count"] and score["colour"] == 1.0 and score["shape"] >= 0.97 and score["motion"] == 1.0
    assert score["windows"] == len(window_starts(frames))
    truth = window_truth(spec)
    assert sum(lab is not None for lab in truth[0]) >= 0.6 * len(truth[0])
    # a clip played backwards is scored wrong on motion, so the score is not trivially 1
    if path == "bounce":
        backwards = score_long(analyze_long(video[::-1].copy()), spec)
        assert backwards["motion"] < 0.5
