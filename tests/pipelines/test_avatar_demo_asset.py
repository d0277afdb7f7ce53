"""The bundled avatar demo (assets/avatar_demo): it is the release layout, loads with `load_avatar_pipeline`,
states its short window and defaults, and generates a short talking clip of a drawn face at its size."""

from __future__ import annotations

import numpy as np
import pytest

from vitascope.pipelines.avatar_loader import avatar_demo_folder

pytestmark = pytest.mark.skipif(
    not (avatar_demo_folder() / "ckpts").is_dir(), reason="the avatar demo is not bundled in this checkout"
)


def test_bundled_avatar_demo_generates_a_talking_clip():
    from vitascope.pipelines.avatar import AvatarOptions
    from vitascope.pipelines.avatar_loader import load_avatar_pipeline
    from vitascope.synthetic.faces.audio import speech
    from vitascope.synthetic.faces.cartoon import draw_cartoon, sample_cartoon

    pipe = load_avatar_pipeline(avatar_demo_folder())
    d = pipe.defaults
    assert pipe.window < 33 and d["image_size"] == 64 and d["steps"] <= 12
    faces, bg = sample_cartoon(5, 1, 128, 128)
    voice = speech(np.random.default_rng(5), 16000)  # 1 s
    opts = AvatarOptions(image=draw_cartoon(faces, bg, 128, 128), audio=voice, **{**d, "steps": 2})
    res = pipe.generate(opts)
    frames = np.concatenate(list(pipe.decode_chunks(res.latents, res.frames)))
    assert frames.shape == (25, 64, 64, 3)
    assert frames.std() > 5  # a picture, not a flat colour
