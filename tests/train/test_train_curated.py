"""Curation feeds training, end to end on real encoded clips: `vitascope curate IN --out C` (with the encode
stage on) -> `vitascope train --recipe tiny --data C` -> a model folder that `vitascope generate` loads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from curate import curate_synth as cs

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT / 'tests'}", OMP_NUM_THREADS="1")
    cli = shutil.which("vitascope") or str(Path(sys.executable).with_name("vitascope"))
    return subprocess.run([cli, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(900)
def test_curate_then_train_on_the_shards_then_generate(tmp_path):
    from vitascope.data.shards import LatentShards, shard_buckets
    from vitascope.pipelines.tiny import write_tiny_model
    from vitascope.train.dit_task import DiTTask
    from vitascope.train.recipes import get_recipe

    # 1. Real mp4 files, and the encoders curation uses (a tiny random model folder's VAE and text stack).
    inp = tmp_path / "IN"
    cs.write(cs.pan_shot(31, 30), inp / "a.mp4")
    cs.write(cs.pan_shot(32, 30), inp / "b.mp4")
    enc = write_tiny_model(tmp_path / "M")
    cfg = {
        "text": {"enabled": False},
        "embed": {"clusters": 1},
        "encode": {
            "vae_folder": str(enc / "vae"),
            "llm_folder": str(enc / "text_encoder"),
            "clip_folder": str(enc / "text_encoder_2"),
            "short_side": 32,
            "fps": 8,
        },
    }
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    cur = _cli("curate", str(inp), "--out", str(tmp_path / "C"), "--config", str(tmp_path / "cfg.json"))
    assert cur.returncode == 0, cur.stderr[-3000:]
    latents = tmp_path / "C" / "latents"
    buckets = shard_buckets(latents)
    assert buckets and (latents / "encoders.json").exists()

    # 2. What the trainer reads: precomputed text states, weights, and non-empty captions and variants.
    pool = LatentShards(latents / next(iter(buckets)))
    assert pool.text is not None and pool.text["text_states"].shape[0] == len(pool)
    assert all(r["sample_weight"] and r["caption"].strip() for r in pool.records)
    recipe = get_recipe("tiny")[0].on_shards(tmp_path / "C").replace(canonical_fraction=0.0)
    task = DiTTask(recipe, tmp_path / "probe", tmp_path)
    assert task.dit_config.in_channels == pool.latents.shape[1] == 16  # widths from the data
    assert task.dit_config.text_states_dim == pool.text["text_states"].shape[-1]
    variants = [task._caption(r, np.random.default_rng(i))[0] for i, r in enumerate(pool.records * 5)]
    assert all(v.strip() for v in variants) and len(set(variants)) > 2

    # 3. Train on the shards, then generate with the model folder it assembles.
    run = tmp_path / "R"
    tr = _cli(
        "train", "--recipe", "tiny", "--data", str(tmp_path / "C"), "--out", str(run), "--max-steps", "5"
    )
    assert tr.returncode == 0, tr.stderr[-3000:]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5] and all(np.isfinite(r["loss"]) for r in rows)
    model = run / "model"
    assert json.loads((model / "transformer" / "config.json").read_text())["in_channels"] == 16
    # The release `dit` recipe (bf16, activation checkpointing, guidance embedding, shift 7, I2V batches)
    # runs on the same shards; only the DiT is shrunk to the tiny width.
    import dataclasses

    from vitascope.train.loop import train
    from vitascope.train.recipes import TINY_DIT

    dit = get_recipe("dit")[0].replace(dit=dataclasses.replace(TINY_DIT, guidance_embed=True))
    res = train(dit.on_shards(tmp_path / "C"), tmp_path / "dit", max_steps=1, resume=False, export=False)
    assert res.step == 1 and np.isfinite(res.losses[0])

    video = tmp_path / "v.mp4"
    gen = _cli(
        "generate", "--model", str(model), "--prompt", "a pan across a bright scene", "--output", str(video)
    )
    assert gen.returncode == 0, gen.stderr[-3000:]
    assert video.stat().st_size > 0


def test_a_typo_in_the_data_folder_is_one_clear_error(tmp_path):
    from vitascope.errors import ModelFolderError
    from vitascope.train.recipes import get_recipe

    with pytest.raises(ModelFolderError, match="no finished latent shards"):
        get_recipe("tiny")[0].on_shards(tmp_path)
