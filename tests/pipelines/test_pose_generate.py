"""Pose-driven generation: per-frame pose latents through the one sampler (whole clip and context windows),
`vitascope generate --image --motion/--pose-json/--pose-video` on a tiny pose model, and its clear errors."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from vitascope.errors import InvalidOptionError
from vitascope.pipelines.tiny import write_tiny_model, write_tiny_pose_model
from vitascope.synthetic.figures import (
    motion_keypoints,
    pck,
    render_figure,
    sample_figure,
    save_pose_json,
    template,
)

S = 64


@pytest.fixture(scope="module")
def pose_model(tmp_path_factory):
    return write_tiny_pose_model(tmp_path_factory.mktemp("tinypose"))


@pytest.fixture(scope="module")
def figure_png(tmp_path_factory):
    fig = sample_figure(3)
    kp = motion_keypoints(template("squat", 1), fig, 48, (S, S))
    path = tmp_path_factory.mktemp("img") / "figure.png"
    Image.fromarray(render_figure(fig, kp[0], 48, (S, S))).save(path)
    return path


def _tiny_pose_dit():
    from _helpers import reseed_parameters
    from vitascope.models.pose import PoseDiT
    from vitascope.pipelines.tiny import tiny_dit_config

    dit = PoseDiT(tiny_dit_config("token_replace"))
    reseed_parameters(dit, 5)
    return dit.eval()


def _cond(dit, seed=0):
    from vitascope.models.dit.sampling import TextCondition

    g = torch.Generator().manual_seed(seed)
    c = dit.config
    return TextCondition(
        torch.randn(1, 6, c.text_states_dim, generator=g), torch.ones(1, 6), torch.randn(1, 32, generator=g)
    )


def test_sampler_feeds_pose_latents_per_window():
    """sample_dit's frame_inputs reach the DiT whole without windows, and cut to exactly each window's
    frames (the condition frame 0 first) inside MuseV context windows; a different pose changes the video."""
    from vitascope.flow.windows import overlapping_windows
    from vitascope.models.dit.sampling import sample_dit
    from vitascope.pipelines.long import context_windows

    dit = _tiny_pose_dit()
    g = torch.Generator().manual_seed(1)
    T, C = 7, dit.config.out_channels
    x = torch.randn(1, C, T, 4, 4, generator=g)
    image = torch.randn(1, C, 1, 4, 4, generator=g)
    pose = torch.arange(T, dtype=torch.float32).view(1, 1, T, 1, 1).expand(1, C, T, 4, 4).contiguous()
    seen = []
    hook = dit.pose_in.register_forward_pre_hook(lambda m, a: seen.append(a[0][0, 0, :, 0, 0].tolist()))
    kw = dict(steps=2, shift=3.0, guidance=1.0, cfg_scale=1.0, dtype=torch.float32)
    kw |= dict(image_latents=image, mode="token_replace")
    with torch.no_grad():
        whole = sample_dit(dit, x, _cond(dit), None, frame_inputs={"pose_latents": pose}, **kw)
        assert seen == [list(range(T))] * 2
        seen.clear()
        wrap = context_windows(overlapping_windows(3, 1), lambda b: None)
        sample_dit(dit, x, _cond(dit), None, frame_inputs={"pose_latents": pose}, wrap_predict=wrap, **kw)
        # windows over frames 1..6: [0,1,2], [2,3,4], [4,5] -> timeline frames with the condition frame first
        assert seen == [[0, 1, 2, 3], [0, 3, 4, 5], [0, 5, 6]] * 2
        other = sample_dit(dit, x, _cond(dit), None, frame_inputs={"pose_latents": -pose}, **kw)
    hook.remove()
    assert (whole[:, :, 1:] - other[:, :, 1:]).abs().max() > 1e-4


def test_pose_drive_follows_the_template(figure_png):
    """The skeleton drawn for `--motion` is the image's figure doing the template: its bones, the template's
    angles after the ease-in frames, and the image's own pose at frame 0."""
    from vitascope.media import read_image
    from vitascope.pipelines.pose import EASE_FRAMES, drive_for_image
    from vitascope.synthetic.figures import fit_figure, retarget

    pixels = read_image(figure_png)
    drive = drive_for_image(pixels, "motion", "wave", 17)
    fit = fit_figure(pixels)
    assert drive.keypoints.shape == (17, 17, 2) and drive.skeleton.shape == (17, S, S, 3)
    assert pck(drive.keypoints[0], fit.keypoints, fit.height) >= 0.9  # starts in the image's pose
    wave = retarget(
        motion_keypoints(template("wave", 17), sample_figure(0), 60, (128, 128)), fit.figure, fit.height
    )
    # after the ease-in, the pose is the template's (same figure, placed as the image's figure)
    moved = drive.keypoints[EASE_FRAMES:] - drive.keypoints[EASE_FRAMES:, 11:13].mean(1, keepdims=True)
    ref = wave[EASE_FRAMES:] - wave[EASE_FRAMES:, 11:13].mean(1, keepdims=True)
    assert np.mean([pck(a, b, fit.height) for a, b in zip(moved, ref, strict=True)]) >= 0.95
    assert drive.background == "black"


def _run(args):
    from test_cli_generate import _run_inproc

    return _run_inproc(args)


def _sidecar(path):
    return json.loads(path.with_name(path.name + ".json").read_text())


def test_generate_motion_template(pose_model, figure_png, tmp_path):
    out = tmp_path / "wave.mp4"
    r = _run(
        ["generate", "--model", str(pose_model), "--image", str(figure_png), "--motion", "wave"]
        + ["--frames", "9", "--seed", "3", "--output", str(out)]
    )
    assert r.exit_code == 0, r.output
    meta = _sidecar(out)
    assert meta["pose"]["source"] == "motion:wave" and len(meta["pose"]["keypoints"]) == 9
    assert meta["options"]["extra"]["motion"] == "wave"
    assert meta["options"]["prompt"] == "a figure waving on a black background"  # from the motion
    from vitascope.media import read_video

    frames, _ = read_video(out)
    assert frames.shape == (9, S, S, 3)


def test_generate_pose_json_and_video(pose_model, figure_png, tmp_path):
    """A keypoint JSON (OpenPose BODY_18) and a video of another figure give the same drive as their motion."""
    from vitascope.media import write_video

    kp = motion_keypoints(template("dance", 9), sample_figure(8), 90, (128, 128))
    save_pose_json(tmp_path / "dance.json", kp, layout=18, size=(128, 128))
    r = _run(
        ["generate", "--model", str(pose_model), "--image", str(figure_png)]
        + ["--pose-json", str(tmp_path / "dance.json"), "--frames", "9", "--output", str(tmp_path / "j.mp4")]
    )
    assert r.exit_code == 0, r.output
    by_json = np.array(_sidecar(tmp_path / "j.mp4")["pose"]["keypoints"])
    video = render_figure(sample_figure(8), kp, 90, (128, 128))
    write_video(video, tmp_path / "dance.mp4", fps=8)
    r = _run(
        ["generate", "--model", str(pose_model), "--image", str(figure_png), "--prompt", "a figure dancing"]
        + ["--pose-video", str(tmp_path / "dance.mp4"), "--frames", "9", "--output", str(tmp_path / "v.mp4")]
    )
    assert r.exit_code == 0, r.output
    meta = _sidecar(tmp_path / "v.mp4")
    by_video = np.array(meta["pose"]["keypoints"])
    h = meta["pose"]["figure_height"]
    assert np.mean([pck(a, b, h) for a, b in zip(by_video, by_json, strict=True)]) >= 0.9


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--motion", "moonwalk"], "unknown motion 'moonwalk'"),
        (["--motion", "wave", "--pose-json", "x.json"], "give one motion source"),
        (["--pose-json", "/nonexistent/pose.json"], "pose json not found"),
    ],
)
def test_generate_motion_errors(pose_model, figure_png, tmp_path, extra, words):
    r = _run(["generate", "--model", str(pose_model), "--image", str(figure_png), *extra])
    assert r.exit_code == 2 and words in r.output


def test_generate_motion_needs_image_and_pose_model(figure_png, tmp_path):
    r = _run(["generate", "--motion", "wave", "--output", str(tmp_path / "x.mp4")])
    assert r.exit_code == 2 and "pass --image" in r.output
    plain = write_tiny_model(tmp_path / "plain")
    r = _run(["generate", "--model", str(plain), "--image", str(figure_png), "--motion", "jump"])
    assert r.exit_code == 2 and "no pose modules" in r.output


def test_no_figure_in_the_image(pose_model, tmp_path):
    Image.fromarray(np.zeros((S, S, 3), np.uint8)).save(tmp_path / "black.png")
    r = _run(
        ["generate", "--model", str(pose_model), "--image", str(tmp_path / "black.png"), "--motion", "wave"]
    )
    assert r.exit_code == 2 and "part colour" in r.output


def test_bundled_pose_model_is_small_and_loads(tmp_path, figure_png):
    """The bundled pose model (<= 10 MB; the demo's text encoders by reference) loads strictly as a pose
    model and is the default for `--motion` without --model."""
    from vitascope.convert.folder import detect_folder
    from vitascope.models.pose import PoseDiT
    from vitascope.pipelines.loader import demo_model_path, load_pipeline, pose_model_path
    from vitascope.pipelines.pose import require_pose_model

    root = pose_model_path()
    assert sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) <= 10 * 2**20
    meta = json.loads((root / "vitascope.json").read_text())
    assert meta["recipe"] == "demo-pose"
    folder = detect_folder(root)
    assert folder.text_encoder == (demo_model_path() / "text_encoder").resolve()
    pipe = load_pipeline(root)
    assert isinstance(pipe.dit, PoseDiT) and pipe.dit.pose_proj.weight.abs().max() > 0
    with pytest.raises(InvalidOptionError, match="no pose modules"):
        require_pose_model(load_pipeline(None).dit)
    out = tmp_path / "wave.mp4"
    r = _run(["generate", "--image", str(figure_png), "--motion", "wave", "--frames", "5", "--steps", "2"]
             + ["--output", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert _sidecar(out)["model"]["name"] == "vitascope-pose-demo"
