"""Motion templates, retargeting, keypoint files (OpenPose / DWPose layouts) and templates from a video."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.figures import (
    TEMPLATES,
    Motion,
    fill_missing,
    forward,
    keypoints_to_motion,
    load_motion,
    max_height,
    motion_for_image,
    motion_from_video,
    motion_keypoints,
    pck,
    read_pose_json,
    render_figure,
    retarget,
    sample_figure,
    save_motion,
    save_pose_json,
    template,
    write_pose_json,
)
from vitascope.synthetic.figures.model import K, fits_frame, head_centre

LIMB_BONES = ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16), (5, 6), (11, 12))


def _bone_lengths(kp):
    return np.stack([np.linalg.norm(kp[..., a, :] - kp[..., b, :], axis=-1) for a, b in LIMB_BONES], -1)


def test_the_six_templates_exist():
    assert {"wave", "jump", "dance", "squat", "walk", "gymnastics"} <= set(TEMPLATES)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_each_template_is_a_valid_smooth_sequence(name):
    motion = template(name)
    again = template(name)
    assert np.array_equal(motion.angles, again.angles) and np.array_equal(motion.root_x, again.root_x)
    figure, size = sample_figure(1), (128, 128)
    height = max_height(motion, figure, size)
    assert height >= 0.5 * size[0]  # the whole routine fits a frame at a useful size
    kp = motion_keypoints(motion, figure, height, size)
    assert kp.shape == (len(motion), 17, 2) and np.isfinite(kp).all()
    assert fits_frame(figure, kp, height, size)
    lengths = _bone_lengths(kp)
    assert np.allclose(lengths, lengths[0], atol=1e-6)  # rigid bones all along
    step = np.linalg.norm(np.diff(kp, axis=0), axis=-1).max() / height
    accel = np.linalg.norm(np.diff(kp, 2, axis=0), axis=-1).max() / height
    assert 0.01 < step <= 0.25 and accel <= 0.2  # it moves, and smoothly
    assert (motion.lift >= -1e-9).all()
    if motion.loop:  # a loop's last frame leads back into its first
        wrap = np.abs(motion.angles[0] - motion.angles[-1]).max()
        assert wrap <= np.abs(np.diff(motion.angles, axis=0)).max(0).max() * 1.5 + 1e-6
    ground = size[0] * (1 - 0.06)
    ends = np.concatenate(
        [
            kp[:, [15, 16], 1] + figure.leg_w * height / 2,
            kp[:, [9, 10], 1] + figure.arm_w * height / 2,
            head_centre(kp)[:, 1:] + figure.head_r * height,
        ],
        axis=1,
    )
    lowest = ends.max(1)
    assert np.allclose(lowest, ground - motion.lift * height)  # on the ground line, or lifted by the motion


def test_resample_loops_or_stretches():
    wave = template("wave", 130)
    assert len(wave) == 130 and np.array_equal(wave.angles[48], wave.angles[0])
    jump = template("jump", 81)
    assert len(jump) == 81 and np.allclose(jump.angles[-1], template("jump").angles[-1])
    with pytest.raises(InvalidOptionError, match="unknown motion"):
        template("moonwalk")


def test_retargeting_keeps_the_target_bones_and_the_source_angles():
    source_fig, target_fig = sample_figure(2), sample_figure(9)
    motion = template("dance", 24)
    source = motion_keypoints(motion, source_fig, 90, (128, 128))
    out = retarget(source, target_fig, 70, (128, 128))
    ref = forward(target_fig, np.zeros(10), (0.0, 0.0), 70)
    assert np.allclose(_bone_lengths(out), _bone_lengths(ref)[None], atol=1e-6)
    back = keypoints_to_motion(out)
    assert np.allclose(back.angles, keypoints_to_motion(source).angles, atol=1e-6)
    # the ground contact is kept: the lowest point stands on the same line in every still frame
    assert np.ptp(np.max(out[:, [15, 16], 1], axis=1)[motion.lift < 1e-9]) < 0.03 * 70


@pytest.mark.parametrize("layout", [17, 18, 25])
def test_openpose_json_round_trip(tmp_path, layout):
    figure = sample_figure(4)
    kp = motion_keypoints(template("wave", 6), figure, 80, (128, 128))
    path = tmp_path / "pose.json"
    save_pose_json(path, kp, layout=layout, size=(128, 128))
    data = json.loads(path.read_text())
    assert len(data) == 6 and len(data[0]["people"][0]["pose_keypoints_2d"]) == 3 * layout
    got, conf = read_pose_json(path)
    assert np.allclose(got, kp, atol=1e-3) and (conf == 1).all()
    if layout == 18:  # BODY_18: index 1 is the neck, 2 the right shoulder
        flat = np.array(data[0]["people"][0]["pose_keypoints_2d"]).reshape(18, 3)
        assert np.allclose(flat[1, :2], (kp[0, 5] + kp[0, 6]) / 2, atol=1e-3)
        assert np.allclose(flat[2, :2], kp[0, K["right_shoulder"]], atol=1e-3)


def test_keypoint_files_normalised_folders_and_missing_points(tmp_path):
    figure = sample_figure(5)
    kp = motion_keypoints(template("squat", 5), figure, 80, (100, 120))
    frames = write_pose_json(kp, layout=18)
    for i, frame in enumerate(frames):  # DWPose-style normalised coordinates, one file per frame
        flat = np.array(frame["people"][0]["pose_keypoints_2d"]).reshape(18, 3)
        flat[:, 0] /= 120
        flat[:, 1] /= 100
        if i == 2:
            flat[4] = 0  # right wrist missing in one frame
            flat[14:18] = 0  # and the face
        frame = {
            "people": [{"pose_keypoints_2d": flat.ravel().tolist()}],
            "canvas_width": 120,
            "canvas_height": 100,
        }
        (tmp_path / f"f_{i:03d}_keypoints.json").write_text(json.dumps(frame))
    got, conf = read_pose_json(tmp_path)
    assert got.shape == (5, 17, 2) and conf[2, K["right_wrist"]] == 0
    filled = fill_missing(got, conf)
    assert np.allclose(
        filled[2, K["right_wrist"]], (kp[1, K["right_wrist"]] + kp[3, K["right_wrist"]]) / 2, atol=0.01
    )
    assert np.linalg.norm(filled[2, 0] - kp[2, 0]) < 0.1 * 80  # the face guessed on a head above the neck
    motion = load_motion(tmp_path)
    assert len(motion) == 5 and motion.name == tmp_path.name
    conf[:, K["left_knee"]] = 0
    with pytest.raises(InvalidOptionError, match="left_knee"):
        fill_missing(got, conf)
    (tmp_path / "bad.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": [1, 2, 3, 4]}]}))
    with pytest.raises(InvalidOptionError, match="3 x 18"):
        read_pose_json(tmp_path / "bad.json")


def test_motion_json_round_trip(tmp_path):
    motion = template("jump")
    save_motion(motion, tmp_path / "jump.json")
    back = load_motion(tmp_path / "jump.json")
    assert isinstance(back, Motion) and back.loop is False and back.name == "jump"
    assert np.allclose(back.angles, motion.angles, atol=1e-3) and np.allclose(
        back.lift, motion.lift, atol=1e-5
    )


def test_template_from_a_video_of_a_figure():
    source_fig, size, height = sample_figure(6, "gray"), (112, 112), 80.0
    kp = motion_keypoints(template("wave", 48).resample(48), source_fig, height, size)[::8]  # 6 frames
    frames = render_figure(source_fig, kp, height, size, "gray")
    motion = motion_from_video(frames)
    again = motion_keypoints(motion, source_fig, height, size, x=kp[0, 11:13, 0].mean())
    assert pck(again, kp, height) >= 0.9


def test_the_figure_in_an_image_does_a_template():
    figure, size, height = sample_figure(8, "white"), (128, 128), 84.0
    still = forward(figure, np.zeros(10), (70.0, 70.0), height)
    image = render_figure(figure, still, height, size, "white")
    motion = template("squat", 12)
    kp, fit = motion_for_image(image, motion)
    assert fit.figure.colours() == figure.colours()
    ground = still[[15, 16], 1].max() + figure.leg_w / 2 * height
    truth = motion_keypoints(motion, figure, height, size, x=70.0, ground=ground)
    assert kp.shape == (12, 17, 2) and pck(kp, truth, height) >= 0.95
