"""Hue rotations of rendered frames (synthetic/recolour.py): what the palette VAE recipe trains on."""

import colorsys

import numpy as np

from vitascope.synthetic.analyze import analyze
from vitascope.synthetic.recolour import random_recolour, recolour
from vitascope.synthetic.render import render
from vitascope.synthetic.world import COLOURS, sample_scene


def _hue(rgb) -> float:
    return colorsys.rgb_to_hsv(*(np.asarray(rgb, dtype=float) / 255.0))[0] * 360.0


def test_greys_stay_and_angle_zero_is_the_identity():
    greys = np.array([[0, 0, 0], [128, 128, 128], [255, 255, 255], [45, 45, 45]], np.uint8)
    for angle in (0.7, 2.0, 4.5):
        np.testing.assert_array_equal(recolour(greys, angle, 0.8), greys)
    pal = np.array(list(COLOURS.values()), np.uint8)
    np.testing.assert_array_equal(recolour(pal, 0.0), pal)
    np.testing.assert_array_equal(recolour(pal, 2 * np.pi), pal)


def test_turns_cover_the_hue_circle():
    red = np.array([[230, 40, 40]], np.uint8)
    hues = [_hue(recolour(red, a)[0]) for a in np.linspace(0, 2 * np.pi, 24, endpoint=False)]
    # every 60-degree sector of the circle is reached from red alone
    assert {int(h // 60) % 6 for h in hues} == set(range(6)), hues


def test_random_recolour_is_seeded_and_keeps_the_scene_readable():
    spec = sample_scene(3, 17, 64, 64, n_objects=1, background="black", camera="static")
    frames = render(spec)
    a = random_recolour(frames, np.random.default_rng(5))
    b = random_recolour(frames, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, frames)
    got = analyze(a, background="black").objects[0]
    assert got["shape"] == spec.objects[0].shape and got["motion"] == spec.objects[0].motion
