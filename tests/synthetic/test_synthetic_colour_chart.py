"""Colour charts: dense, varied colour for VAE training (synthetic/colour_chart.py)."""

import colorsys

import numpy as np

from vitascope.synthetic.colour_chart import chart_clip


def test_charts_are_deterministic_moving_and_cover_the_hue_circle():
    a, b = chart_clip(5, 9, 64, 64), chart_clip(5, 9, 64, 64)
    assert a.shape == (9, 64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)  # a pure function of the seed (resumes see the same samples)
    assert not np.array_equal(a[0], a[-1])  # the patches drift
    hues = []
    for seed in range(40):
        px = chart_clip(seed, 1, 32, 32).reshape(-1, 3) / 255.0
        for r, g, bl in px[::17]:
            h, s, v = colorsys.rgb_to_hsv(r, g, bl)
            if s > 0.4 and v > 0.3:
                hues.append(h)
    counts, _ = np.histogram(hues, bins=12, range=(0, 1))
    assert counts.min() > 0.02 * len(hues)  # every twelfth of the hue circle, not a palette


def test_chart_edges_are_anti_aliased():
    clip = chart_clip(2, 1, 64, 64)[0].astype(int)
    steps = np.abs(np.diff(clip, axis=1)).sum(-1)
    # between two flat colours there are intermediate pixels, as on the world's rendered edges
    values = {tuple(p) for p in clip.reshape(-1, 3)}
    assert len(values) > 12 and steps.max() > 0
