"""The figure world's model and drawing: seeded, proportions honoured, parts where the keypoints say."""

from __future__ import annotations

import numpy as np
import pytest

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.figures import (
    ANGLES,
    BONES,
    FIGURE_BACKGROUNDS,
    KEYPOINTS,
    draw_skeleton,
    forward,
    render_figure,
    sample_figure,
    sample_pose,
)
from vitascope.synthetic.figures.model import MIN_COLOUR_DISTANCE, ROLES, K, head_centre
from vitascope.synthetic.figures.render import bone_colours


def test_coco17_order():
    assert KEYPOINTS[:5] == ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
    assert KEYPOINTS[5:11] == (
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
    )
    assert KEYPOINTS[11:] == ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")


def test_same_seed_same_figure_pose_and_pixels():
    a, b = sample_figure(3, "gray"), sample_figure(3, "gray")
    assert a == b and a != sample_figure(4, "gray")
    pa, pb = sample_pose(5, a, 70, (96, 96)), sample_pose(5, a, 70, (96, 96))
    assert np.array_equal(pa[0], pb[0]) and np.array_equal(pa[1], pb[1])
    kp = forward(a, *pa, 70)
    assert np.array_equal(
        render_figure(a, kp, 70, (96, 96), "gray"), render_figure(b, kp, 70, (96, 96), "gray")
    )


def test_colours_and_proportions_vary_and_stay_distinct():
    figures = [sample_figure(s, bg) for s in range(40) for bg in FIGURE_BACKGROUNDS]
    assert len({f.torso for f in figures}) >= 6 and len({round(f.arm_half, 3) for f in figures}) > 30
    for f, bg in zip(figures, list(FIGURE_BACKGROUNDS) * 40, strict=False):
        cols = [np.array(c, dtype=float) for c in f.colours().values()] + [
            np.array(FIGURE_BACKGROUNDS[bg], dtype=float)
        ]
        d = [np.linalg.norm(x - y) for i, x in enumerate(cols) for y in cols[i + 1 :]]
        assert min(d) >= MIN_COLOUR_DISTANCE
        assert abs(f.standing_height - 1.0) < 1e-9


def test_rest_pose_geometry():
    f = sample_figure(1)
    height = 100.0
    kp = forward(f, np.zeros(len(ANGLES)), (50.0, 60.0), height)
    # bone lengths are the figure's
    for a, b, length in ((5, 7, f.arm_half), (7, 9, f.arm_half), (11, 13, f.leg_half), (14, 16, f.leg_half)):
        assert np.linalg.norm(kp[a] - kp[b]) == pytest.approx(length * height)
    assert np.linalg.norm(kp[K["left_shoulder"]] - kp[K["right_shoulder"]]) == pytest.approx(
        f.shoulder_w * height
    )
    # standing straight: head top to soles is the standing height; the figure's left is the image right
    top = head_centre(kp)[1] - f.head_r * height
    soles = kp[K["left_ankle"], 1] + f.leg_w / 2 * height
    assert soles - top == pytest.approx(height)
    assert (
        kp[K["left_shoulder"], 0] > kp[K["right_shoulder"], 0]
        and kp[K["left_ear"], 0] > kp[K["right_ear"], 0]
    )
    # raising the left arm by 90 degrees points it to the image right, the right arm mirrors it
    up = np.zeros(len(ANGLES))
    up[ANGLES.index("l_shoulder")] = up[ANGLES.index("r_shoulder")] = 90
    kp2 = forward(f, up, (50.0, 60.0), height)
    assert kp2[K["left_wrist"], 0] - kp2[K["left_shoulder"], 0] == pytest.approx(2 * f.arm_half * height)
    assert kp2[K["right_shoulder"], 0] - kp2[K["right_wrist"], 0] == pytest.approx(2 * f.arm_half * height)


def test_parts_are_drawn_where_the_keypoints_are():
    f = sample_figure(2, "white")
    angles, pelvis = sample_pose(2, f, 80, (112, 112))
    kp = forward(f, angles, pelvis, 80)
    img = render_figure(f, kp, 80, (112, 112), "white")
    assert img.dtype == np.uint8 and img.shape == (112, 112, 3)
    assert tuple(img[0, 0]) == (255, 255, 255)

    def colour_at(xy):
        return tuple(int(v) for v in img[int(xy[1]), int(xy[0])])

    assert colour_at(head_centre(kp)) == f.head
    for a, b, role in ((7, 9, "arms"), (8, 10, "arms")):
        mid = (kp[a] + kp[b]) / 2
        assert colour_at(mid) in (getattr(f, role), f.head)  # only the head is drawn over an arm
    for role in ROLES:
        assert (img == np.array(getattr(f, role))).all(-1).sum() > 10


def test_skeleton_image():
    f = sample_figure(0)
    kp = forward(f, *sample_pose(0, f, 90, (128, 128)), 90)
    sk = draw_skeleton(kp, (128, 128))
    assert sk.shape == (128, 128, 3) and tuple(sk[0, 0]) == (0, 0, 0)
    for (a, b), colour in zip(BONES[:8], bone_colours()[:8], strict=True):  # limbs carry their own colour
        mid = np.rint((kp[a] + kp[b]) / 2 - 0.5).astype(int)
        patch = sk[mid[1] - 1 : mid[1] + 2, mid[0] - 1 : mid[0] + 2].reshape(-1, 3).astype(int)
        assert (np.abs(patch - np.array(colour)).max(-1) < 60).any() or (patch == 255).all(-1).any()
    conf = np.ones(17)
    conf[K["left_wrist"]] = 0
    partial = draw_skeleton(kp, (128, 128), confidence=conf)
    assert partial.sum() < sk.sum()
    video = draw_skeleton(np.stack([kp, kp]), (128, 128))
    assert video.shape == (2, 128, 128, 3) and np.array_equal(video[0], sk)


def test_bad_input_says_what_to_do():
    f = sample_figure(0)
    with pytest.raises(InvalidOptionError, match="background"):
        sample_figure(0, "plaid")
    with pytest.raises(InvalidOptionError, match="COCO-17"):
        render_figure(f, np.zeros((3, 12, 2)), 50)
    with pytest.raises(InvalidOptionError, match="does not fit"):
        sample_pose(0, f, 200, (64, 64))
