"""The bundled demo model: small, in the vitascope layout, loaded by the same code as real checkpoints, and
the default when no model is given (T2V and I2V at its own size, frames and steps)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vitascope.pipelines.loader import demo_model_path, load_pipeline
from vitascope.pipelines.options import GenerationOptions


def test_demo_folder_is_small_and_complete():
    root = demo_model_path()
    total = sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())
    assert total <= 25 * 2**20, f"demo model is {total / 2**20:.1f} MB; the package budget is 25 MB"
    meta = json.loads((root / "vitascope.json").read_text())
    assert meta["format"] == "vitascope" and meta["i2v_mode"] == "token_replace"
    d = meta["defaults"]
    assert (d["height"], d["width"], d["frames"]) == (64, 64, 17) and d["steps"] <= 30
    for sub in ("transformer", "vae", "text_encoder", "text_encoder_2"):
        assert (root / sub / "config.json").exists()


def test_default_model_generates_t2v_and_i2v(tmp_path):
    from PIL import Image

    from vitascope.train.evaluate import input_image, psnr

    pipe = load_pipeline(None)  # no --model: the bundled demo
    t2v = pipe.generate(GenerationOptions("a red circle moving right on a black background", seed=3, steps=4))
    assert t2v.frames.shape == (17, 64, 64, 3)
    image = input_image({"seed": 3, "shape": "square", "colour": "green"}, 64, 64)
    Image.fromarray(image).save(tmp_path / "in.png")
    i2v = pipe.generate(
        GenerationOptions(
            "a green square moving left on a black background",
            task="i2v",
            image=str(tmp_path / "in.png"),
            seed=3,
            steps=4,
        )
    )
    assert i2v.frames.shape == (17, 64, 64, 3)  # the model's own size, not an I2V resolution bucket
    # The first frame is the VAE's reconstruction of the image: close to it, not a fresh sample.
    assert psnr(i2v.frames[0], image) > 15.0
    assert not np.array_equal(t2v.frames[0], i2v.frames[0])
