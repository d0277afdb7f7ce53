"""Figure clips for pose training and evaluation: pure functions of their seed, training and evaluation seeds
disjoint, the skeleton drawn from the clip's own keypoints, the figure inside the frame."""

import numpy as np

from vitascope.synthetic.figures import draw_skeleton, fit_figure, pck
from vitascope.synthetic.figures.clips import EVAL, TRAIN, figure_clip, split_seed


def test_clips_are_seeded_and_splits_disjoint():
    a, b = figure_clip(split_seed(3, TRAIN)), figure_clip(split_seed(3, TRAIN))
    assert np.array_equal(a.frames, b.frames) and a.caption == b.caption
    train = {split_seed(i, TRAIN) for i in range(500)}
    assert not train & {split_seed(i, EVAL) for i in range(500)}


def test_clip_frames_skeleton_and_keypoints_agree():
    for seed in range(4):
        c = figure_clip(seed, frames=9, size=(64, 64), motion=("wave", "poses", "jump", "walk")[seed])
        assert c.frames.shape == (9, 64, 64, 3) and c.keypoints.shape == (9, 17, 2)
        assert np.array_equal(c.skeleton, draw_skeleton(c.keypoints, (64, 64)))
        assert c.caption.startswith("a figure ") and c.background in c.caption
        assert c.foreground().mean() > 0.02
        assert (c.keypoints >= 0).all() and (c.keypoints <= 64).all()
    fit = fit_figure(c.frames[0])
    assert pck(fit.keypoints, c.keypoints[0], c.height) >= 0.8
