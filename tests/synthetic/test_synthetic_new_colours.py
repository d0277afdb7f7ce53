"""The colours the world renders on request only (NEW_COLOURS, for the LoRA tutorial): never drawn at random,
named by the analyzer only when its palette is widened."""

import pytest

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.analyze import analyze
from vitascope.synthetic.render import render
from vitascope.synthetic.world import ALL_COLOURS, COLOURS, NEW_COLOURS, sample_scene


@pytest.mark.parametrize("colour", list(NEW_COLOURS))
def test_new_colour_renders_and_is_named_with_the_wide_palette(colour):
    for seed in range(3):
        spec = sample_scene(seed, colour=colour, n_objects=1)
        video = render(spec)
        assert analyze(video, colours=ALL_COLOURS).objects[0]["colour"] == colour
        assert analyze(video).objects[0]["colour"] in COLOURS  # the default palette knows only the five


def test_random_scenes_never_draw_a_new_colour_and_known_ones_keep_their_names():
    for seed in range(40):
        spec = sample_scene(seed)
        assert all(o.colour in COLOURS for o in spec.objects)
    for seed, colour in enumerate(COLOURS):
        video = render(sample_scene(seed, colour=colour, n_objects=1, background="black"))
        assert analyze(video, colours=ALL_COLOURS).objects[0]["colour"] == colour
    with pytest.raises(InvalidOptionError, match="unknown colour"):
        sample_scene(0, colour="beige")
