"""The demo's path end to end at toy size: world clips -> VAE latents -> DiT steps -> model folder -> the
user-facing pipeline loads it and generates T2V and I2V; and the `vitascope train` command as a smoke test."""

from __future__ import annotations

import json

import numpy as np
import torch
from typer.testing import CliRunner

from vitascope.models.dit.config import DiTConfig
from vitascope.models.vae import CausalVAE3D, VAEConfig, save_vae
from vitascope.train.buckets import Bucket
from vitascope.train.export import assemble_model_folder
from vitascope.train.loop import train
from vitascope.train.recipes import Stage, demo_dit

TOY_DIT = DiTConfig(
    in_channels=16,
    out_channels=16,
    hidden_size=32,
    heads_num=2,
    mm_double_blocks_depth=1,
    mm_single_blocks_depth=1,
    rope_dim_list=(4, 6, 6),
    text_states_dim=32,
    text_states_dim_2=32,
    refiner_depth=1,
    guidance_embed=False,
    image_condition_type="token_replace",
)


def test_synthetic_dit_run_exports_a_model_the_pipeline_generates_with(tmp_path):
    from vitascope.pipelines.loader import load_pipeline
    from vitascope.pipelines.options import GenerationOptions

    torch.manual_seed(0)
    vae_dir = save_vae(CausalVAE3D(VAEConfig.tiny()), tmp_path / "vae")
    r = demo_dit().replace(
        dit=TOY_DIT,
        vae_from=str(vae_dir),
        pool_size=6,
        sample_every=2,
        checkpoint_every=2,
        i2v_prob=0.5,
        canonical_fraction=0.5,
        stages=(Stage("s", 2, (Bucket(1, 32, 32, 2), Bucket(9, 32, 32, 2))),),
    )
    res = train(r, tmp_path / "dit", resume=False)
    assert res.step == 2 and all(np.isfinite(res.losses))
    # Latent pools were encoded once, as shards with captions in the canonical form.
    recs = [json.loads(p.read_text()) for p in (tmp_path / "dit" / "latents").glob("*/*/shard_00000.json")]
    assert recs and all(
        rec["caption"].endswith("background") or ", camera" in rec["caption"] for rs in recs for rec in rs
    )
    assert len(list((tmp_path / "dit" / "samples").glob("*.mp4"))) == 2  # preview videos
    folder = assemble_model_folder(tmp_path / "dit", r, tmp_path / "model", run_root=tmp_path)
    meta = json.loads((folder / "vitascope.json").read_text())
    assert meta["format"] == "vitascope" and meta["defaults"]["frames"] == 17
    pipe = load_pipeline(folder)
    out = pipe.generate(
        GenerationOptions(
            "a red circle moving right on a black background", frames=9, height=32, width=32, steps=2
        )
    )
    assert out.video.shape == (9, 32, 32, 3)
    img = np.zeros((32, 32, 3), np.uint8)
    img[10:20, 10:20] = (230, 40, 40)
    path = tmp_path / "in.png"
    from PIL import Image

    Image.fromarray(img).save(path)
    out = pipe.generate(
        GenerationOptions(
            "a red square moving up on a black background",
            task="i2v",
            image=str(path),
            frames=9,
            height=32,
            width=32,
            steps=2,
        )
    )
    assert out.video.shape == (9, 32, 32, 3)


def test_train_command_smoke_runs_the_demo_recipe(tmp_path):
    from vitascope.cli import _register, app

    _register()
    result = CliRunner().invoke(
        app, ["train", "--recipe", "demo", "--max-steps", "1", "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 0, result.output
    assert "demo-vae" in result.output and "demo-dit" in result.output and "demo-dit-ft" in result.output
    prior = json.loads((tmp_path / "run" / "demo-dit" / "text_encoders" / "text_prior.json").read_text())
    assert prior["steps"] == 20  # a smoke run's short language prior
    assert (tmp_path / "run" / "demo-vae" / "export" / "vae" / "config.json").exists()
    assert (tmp_path / "run" / "model" / "vitascope.json").exists()
    # the model folder's VAE is the palette VAE (final_vae), not the one the DiT's latents were encoded with
    from safetensors.torch import load_file

    shipped = load_file(tmp_path / "run" / "model" / "vae" / "model.safetensors")
    palette = load_file(tmp_path / "run" / "demo-vae-palette" / "export" / "vae" / "model.safetensors")
    assert shipped.keys() == palette.keys() and all(torch.equal(shipped[k], palette[k]) for k in shipped)
    rows = (tmp_path / "run" / "demo-dit" / "metrics.jsonl").read_text().splitlines()
    assert rows and np.isfinite(json.loads(rows[0])["loss"])
