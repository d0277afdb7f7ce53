"""LoRA fine-tuning on the loop: a few steps on latent shards change the model, resume continues exactly,
and the exported file loads in the pipeline."""

import numpy as np

from vitascope.convert.lora import read_lora
from vitascope.data.shards import build_synthetic_pool
from vitascope.models.vae import load_vae
from vitascope.pipelines.loader import load_pipeline
from vitascope.pipelines.options import GenerationOptions
from vitascope.pipelines.tiny import write_tiny_model
from vitascope.train.buckets import Bucket
from vitascope.train.loop import train
from vitascope.train.lora_task import lora_recipe


def test_lora_trains_resumes_and_loads(tmp_path):
    base = write_tiny_model(tmp_path / "base")
    vae = load_vae(base / "vae")
    build_synthetic_pool(tmp_path / "shards", vae, Bucket(5, 32, 32, 2), 4, 0, 1.0)
    recipe = lora_recipe(tmp_path / "shards", base, rank=4, steps=3, lr=2e-2, checkpoint_every=2)

    full = train(recipe, tmp_path / "a")
    assert full.step == 3 and all(np.isfinite(full.losses))
    path = full.export_dir / "lora.safetensors"
    part = train(recipe, tmp_path / "b", max_steps=2)
    rest = train(recipe, tmp_path / "b")  # resumes from the step-2 checkpoint
    assert part.step == 2 and rest.step == 3
    assert abs(rest.losses[-1] - full.losses[-1]) < 1e-6

    plain = load_pipeline(base)
    lora = read_lora(path, plain.dit)
    assert lora and max(p.delta().abs().max().item() for p in lora.values()) > 0
    opts = GenerationOptions(prompt="a red circle moving right on a black background", seed=1)
    with_lora = load_pipeline(base, loras=[(path, 1.0)])
    a, b = plain.generate(opts).video, with_lora.generate(opts).video
    assert np.abs(a - b).max() > 1e-4
