"""The figure analyzer: keypoints (PCK@0.1 of the height), colours and proportions from frames; and a
figure drawn by a different, simpler drawer (PIL stick figure) to guard against fitting our renderer only."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.figures import (
    FIGURE_BACKGROUNDS,
    fit_figure,
    forward,
    pck,
    recover_figure,
    render_figure,
    sample_figure,
    sample_pose,
)
from vitascope.synthetic.figures.model import PROPORTIONS


def _case(seed):
    bg = list(FIGURE_BACKGROUNDS)[seed % 4]
    figure = sample_figure(seed, bg)
    height = float(np.random.default_rng(seed).uniform(55, 100))
    size = (int(height * 1.3) + 8,) * 2
    angles, pelvis = sample_pose(seed, figure, height, size)
    kp = forward(figure, angles, pelvis, height)
    return figure, height, kp, render_figure(figure, kp, height, size, bg)


def test_keypoints_from_ground_truth_frames():
    scores = []
    for seed in range(200, 210):
        _figure, height, kp, img = _case(seed)
        scores.append(pck(fit_figure(img).keypoints, kp, height))
    assert np.mean(scores) >= 0.98, scores
    assert min(scores) >= 0.8, scores


def test_colours_and_proportions_are_recovered():
    for seed in (300, 301, 302):
        figure, height, _kp, img = _case(seed)
        got, got_height = recover_figure(img)
        assert got.colours() == figure.colours()  # flat parts: the exact RGB values
        assert got_height == pytest.approx(height, rel=0.08)
        for name in ("head_r", "torso_len", "arm_half", "leg_half"):
            assert getattr(got, name) == pytest.approx(getattr(figure, name), rel=0.2), name
        assert set(PROPORTIONS) <= set(vars(got))


def _pil_stick_figure(seed):
    """A figure drawn another way: PIL lines (no anti-aliasing), a rectangle torso, its own angle
    convention (radians from the +x axis). Returns the image, COCO-17 keypoints and the height."""
    rng = np.random.default_rng(seed)
    size = 128
    img = Image.new("RGB", (size, size), (0, 0, 0))
    draw = ImageDraw.Draw(img)
    colours = {
        "head": (250, 210, 170),
        "torso": (40, 110, 230),
        "arms": (230, 50, 50),
        "legs": (230, 230, 60),
    }
    pelvis = np.array([64.0 + rng.uniform(-6, 6), 70.0])
    torso_len, half_w, arm, leg, limb = 26.0, 10.0, 12.0, 14.0, 5
    neck = pelvis + np.array([0.0, -torso_len])

    def at(p, length, theta):
        return p + length * np.array([math.cos(theta), math.sin(theta)])

    shoulders = [neck + [half_w - 2, 0], neck - [half_w - 2, 0]]  # left (image right), right
    hips = [pelvis + [6, 0], pelvis - [6, 0]]
    kp = np.zeros((17, 2))
    legs = []
    for i, hip in enumerate(hips):
        out = 1 if i == 0 else -1
        a1 = math.pi / 2 - out * rng.uniform(0.0, 0.6)
        a2 = a1 + out * rng.uniform(-0.5, 0.5)
        knee = at(hip, leg, a1)
        ankle = at(knee, leg, a2)
        legs.append((hip, knee, ankle))
        kp[11 + i], kp[13 + i], kp[15 + i] = hip, knee, ankle
    for hip, knee, ankle in legs:
        draw.line(
            [tuple(hip), tuple(knee), tuple(ankle)], fill=colours["legs"], width=limb + 1, joint="curve"
        )
    draw.rectangle([neck[0] - half_w, neck[1], pelvis[0] + half_w, pelvis[1]], fill=colours["torso"])
    for i, shoulder in enumerate(shoulders):
        out = 1 if i == 0 else -1
        a1 = math.pi / 2 - out * rng.uniform(0.2, 2.6)
        a2 = a1 - out * rng.uniform(-1.2, 1.2)
        elbow = at(shoulder, arm, a1)
        wrist = at(elbow, arm, a2)
        draw.line(
            [tuple(shoulder), tuple(elbow), tuple(wrist)], fill=colours["arms"], width=limb, joint="curve"
        )
        kp[5 + i], kp[7 + i], kp[9 + i] = shoulder, elbow, wrist
    r = 7.0
    head = neck + [0, -r - 2]
    draw.rectangle([neck[0] - 2, head[1], neck[0] + 2, neck[1]], fill=colours["head"])
    draw.ellipse([head[0] - r, head[1] - r, head[0] + r, head[1] + r], fill=colours["head"])
    kp[0:3] = head
    kp[3], kp[4] = head + [r, 0], head - [r, 0]
    height = (pelvis[1] + 2 * leg) - (head[1] - r)
    return np.asarray(img), kp, height


def test_a_figure_from_another_drawer_is_read():
    scores = [
        pck(fit_figure(img).keypoints, kp, height) for img, kp, height in map(_pil_stick_figure, range(6))
    ]
    assert np.mean(scores) >= 0.85, scores


def test_not_a_figure_raises():
    with pytest.raises(InvalidOptionError, match="part colour"):
        fit_figure(np.zeros((64, 64, 3), dtype=np.uint8))
    with pytest.raises(InvalidOptionError, match="uint8"):
        fit_figure(np.zeros((64, 64), dtype=np.float32))


def test_blurred_noisy_frames_are_read():
    """Generated frames are soft and noisy: Gaussian blur 0.8 px and noise sigma 4 on 112x112 frames."""
    import cv2

    scores = []
    for seed in range(400, 406):
        bg = list(FIGURE_BACKGROUNDS)[seed % 4]
        figure, height, size = sample_figure(seed, bg), 80.0, (112, 112)
        kp = forward(figure, *sample_pose(seed, figure, height, size), height)
        img = cv2.GaussianBlur(render_figure(figure, kp, height, size, bg).astype(np.float32), (0, 0), 0.8)
        img = np.clip(img + np.random.default_rng(seed).normal(0, 4, img.shape), 0, 255).astype(np.uint8)
        scores.append(pck(fit_figure(img).keypoints, kp, height))
    assert np.mean(scores) >= 0.85, scores
