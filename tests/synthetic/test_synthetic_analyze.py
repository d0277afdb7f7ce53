"""The analyzer against the world's ground truth: >= 98% on rendered clips, clean and degraded."""

from __future__ import annotations

import numpy as np
import pytest

from vitascope.errors import InvalidOptionError
from vitascope.synthetic import (
    analyze,
    colour_name,
    compare,
    image_positions,
    parse_canonical,
    render,
    sample_scene,
)
from vitascope.synthetic.world import COLOURS


def _degrade(video: np.ndarray, rng: np.random.Generator, blur: float, noise: float) -> np.ndarray:
    """Mild blur + Gaussian noise + a small per-channel gain/offset, like a small generator's output."""
    import cv2

    v = np.stack([cv2.GaussianBlur(f.astype(np.float32), (0, 0), blur) for f in video])
    v = v * rng.uniform(0.9, 1.05, 3) + rng.uniform(-10, 10, 3) + rng.normal(0, noise, v.shape)
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def _accuracy(specs, videos):
    scores = [compare(analyze(v), s) for s, v in zip(specs, videos, strict=False)]
    fields = ("colour", "shape", "motion", "camera", "count")
    acc = {k: float(np.mean([sc[k] for sc in scores])) for k in fields}
    failures = [(s.seed, s, sc) for s, sc in zip(specs, scores, strict=False) if not sc["all"]]
    return acc, failures


def _scenes(n, offset):
    # mostly 17x64x64, with short, long, small, larger and odd-sized clips mixed in
    shapes = [(17, 64, 64)] * 6 + [(5, 64, 64), (33, 64, 64), (9, 48, 48), (17, 63, 81)]
    return [sample_scene(offset + i, *shapes[i % len(shapes)]) for i in range(n)]


def test_analyzer_is_at_least_98_percent_right_on_ground_truth_videos():
    specs = _scenes(200, 10_000)
    acc, failures = _accuracy(specs, [render(s) for s in specs])
    assert min(acc.values()) >= 0.98, (acc, failures[:5])


def test_analyzer_is_at_least_98_percent_right_on_blurred_noisy_videos():
    rng = np.random.default_rng(0)
    specs = _scenes(200, 20_000)
    videos = [_degrade(render(s), rng, blur=rng.uniform(0.5, 1.2), noise=rng.uniform(2, 8)) for s in specs]
    acc, failures = _accuracy(specs, videos)
    assert min(acc.values()) >= 0.98, (acc, failures[:5])


@pytest.mark.parametrize("size,frames", [(64, 17), (96, 33), (64, 33), (96, 17)])
def test_evaluator_style_prompts_on_black(size, frames):
    """What the evaluator feeds: one shape on black, canonical prompt, small blurry noisy clip."""
    rng = np.random.default_rng(size + frames)
    for seed in range(15):
        spec = sample_scene(seed, frames, size, size, n_objects=1, background="black")
        video = _degrade(render(spec), rng, blur=1.0, noise=6.0)
        result = compare(
            analyze(video),
            parse_canonical(
                f"a {spec.objects[0].colour} {spec.objects[0].shape} {spec.objects[0].motion} on a black background"
            ),
        )
        assert result["all"], (spec, result)


def test_trajectory_tracks_the_ground_truth_centroid():
    spec = sample_scene(3, n_objects=2, background="black")
    result = analyze(render(spec))
    for obj in spec.objects:
        (found,) = [o for o in result.objects if o["colour"] == obj.colour]
        assert len(found["trajectory"]) == spec.frames
        err = np.abs(np.array(found["trajectory"]) - image_positions(spec, obj)).max()
        assert err < 0.5


def test_single_images_i2v_style():
    for seed in range(20):
        spec = sample_scene(seed, frames=1, n_objects=1, background="black")
        image = render(spec)[0]  # [H, W, 3]
        result = analyze(image)
        assert result.camera == "static" and len(result.objects) == 1
        obj = result.objects[0]
        assert (obj["colour"], obj["shape"], obj["motion"]) == (
            spec.objects[0].colour,
            spec.objects[0].shape,
            "staying still",
        )


def test_known_background_is_used_and_empty_frames_have_no_objects():
    spec = sample_scene(2, background="white", n_objects=1)
    result = analyze(render(spec), background="white")
    assert result.background == "white" and len(result.objects) == 1
    empty = np.zeros((5, 32, 32, 3), dtype=np.uint8)
    assert analyze(empty).objects == [] and analyze(empty).camera == "static"


def test_a_still_object_on_a_panning_camera_is_still_and_the_pan_is_seen():
    spec = sample_scene(8, camera="panning right", motion="staying still", n_objects=1)
    result = analyze(render(spec))
    assert result.camera == "panning right"
    assert result.objects[0]["motion"] == "staying still"  # its drift in the image is the camera's


def test_colour_names_are_nearest_palette_hues():
    for name, rgb in COLOURS.items():
        assert colour_name(rgb) == name
    assert colour_name((200, 70, 60)) == "red"  # a dull, slightly orange red
    assert colour_name((225, 225, 205)) == "white"
    assert colour_name((70, 110, 200)) == "blue"


def test_bad_input_is_refused_with_a_message():
    with pytest.raises(InvalidOptionError, match="uint8"):
        analyze(np.zeros((4, 8, 8, 3), dtype=np.float32))
    with pytest.raises(InvalidOptionError, match="background"):
        analyze(np.zeros((1, 8, 8, 3), dtype=np.uint8), background="plaid")


def test_survives_an_h264_round_trip(tmp_path):
    """yuv420 halves the chroma resolution and crf 28 adds blocking: the labels must not change."""
    from vitascope.media import read_video, write_video

    for seed in range(6):
        spec = sample_scene(300 + seed, frames=17, height=64, width=64)
        frames, _ = read_video(write_video(render(spec), tmp_path / f"{seed}.mp4", crf=28))
        assert compare(analyze(np.asarray(frames)[:, :64, :64]), spec)["all"], spec


@pytest.mark.parametrize("background", ["checkered", "gray"])
def test_heavy_noise_on_any_background_stays_background(background):
    """Noise of sigma 20 puts many background pixels past the base threshold; the analyzer raises it."""
    rng = np.random.default_rng(7)
    for seed in range(10):
        spec = sample_scene(400 + seed, background=background, n_objects=1)
        video = render(spec).astype(np.float32) + rng.normal(0, 20, (spec.frames, 64, 64, 3))
        result = compare(analyze(np.clip(np.rint(video), 0, 255).astype(np.uint8)), spec)
        assert result["all"], (spec, result)


def test_an_i2v_first_frame_scores_against_its_prompt():
    spec = sample_scene(1, frames=1, n_objects=1, background="black", motion="moving left", shape="triangle")
    result = analyze(render(spec))
    assert result.frames == 1 and result.objects[0]["motion"] == "staying still"
    assert compare(result, spec)["all"]
    assert compare(
        result, parse_canonical(f"a {spec.objects[0].colour} triangle moving left on a black background")
    )["all"]
