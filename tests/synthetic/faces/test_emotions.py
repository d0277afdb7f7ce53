"""The bundled emotion references: the renderer's output, read back as their expression by the analyzer."""

import numpy as np
import pytest
from PIL import Image

from vitascope.errors import InvalidOptionError
from vitascope.pipelines.avatar_inputs import EMOTIONS, bundled_emotion_path, read_emotion
from vitascope.synthetic.faces import analyze_talk
from vitascope.synthetic.faces.emotions import render_emotion
from vitascope.synthetic.faces.world import EXPRESSIONS


def test_bundled_references_are_the_world_renders_and_read_right():
    assert EMOTIONS == EXPRESSIONS
    total = 0
    for name in EMOTIONS:
        path = bundled_emotion_path(name)
        total += path.stat().st_size
        pixels = np.asarray(Image.open(path).convert("RGB"))
        assert np.array_equal(pixels, render_emotion(name)), name  # scripts/make_emotion_assets.py is current
        assert np.array_equal(read_emotion(name, None), pixels)
        faces = analyze_talk(np.repeat(pixels[None], 3, axis=0)).faces
        assert [f["expression"] for f in faces] == [name]
    assert total < 20_000  # small: five 128x128 PNGs
    with pytest.raises(InvalidOptionError, match="--emotion must be one of"):
        read_emotion("bored", None)
    with pytest.raises(InvalidOptionError, match="not both"):
        read_emotion("happy", np.zeros((8, 8, 3), np.uint8))
