"""Stage 11: latent precompute with the real (tiny, random) causal VAE and tiny text encoders."""

from __future__ import annotations

import curate_synth as cs
import pytest
import torch

from vitascope.curate.config import config_from_dict
from vitascope.curate.encode import load_clip, precompute_latents, target_shape, text_encoder, vae_encoder
from vitascope.curate.runner_local import run_local


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    root = tmp_path_factory.mktemp("enc_in")
    cs.write(cs.pan_shot(31, 30), root / "a.mp4")
    cs.write(cs.letterboxed(cs.pan_shot(32, 30)), root / "b.mp4")
    cfg = config_from_dict({"text": {"enabled": False}, "embed": {"clusters": 1}})
    result = run_local(root, tmp_path_factory.mktemp("enc_out"), cfg)
    assert all(r["kept"] for r in result.records)
    return root, result.records


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from vitascope.models.text.tiny import write_tiny_text_encoders
    from vitascope.models.vae import CausalVAE3D, VAEConfig, save_vae

    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    save_vae(CausalVAE3D(VAEConfig.tiny()).eval(), folder / "vae")
    write_tiny_text_encoders(folder / "text", "tencent")
    return folder


def test_shards_hold_vae_latents_and_text_states(curated, models, tmp_path):
    from vitascope.data.shards import LatentShards

    root, records = curated
    enc_v = vae_encoder(models / "vae")
    enc_t = text_encoder(models / "text" / "text_encoder", models / "text" / "text_encoder_2", max_length=16)
    counts = precompute_latents(records, root, tmp_path, enc_v, enc_t, short_side=32, fps=8, shard_size=1)
    assert sum(counts.values()) == 2
    for key in counts:  # each bucket folder reads back with the trainer's reader
        shards = LatentShards(tmp_path / key)
        f, h, w = (int(v) for v in key.split("x"))
        assert shards.latents.shape[1:] == (16, (f - 1) // 4 + 1, h // 8, w // 8)
        rec = next(r for r in records if r["clip_id"] == shards.records[0]["clip_id"])
        assert shards.records[0]["caption"] == rec["caption"]["Dense Description"]
        # the stored latent is exactly the VAE's scaled posterior mean of the cropped, resized clip
        x = (
            torch.from_numpy(load_clip(root, rec, (f, h, w), 8.0)).permute(3, 0, 1, 2)[None].float() / 127.5
            - 1
        )
        assert torch.equal(shards.latents[:1], enc_v(x).float())
        from safetensors.torch import load_file

        t = load_file(str(tmp_path / key / "shard_00000.safetensors"))
        assert t["text_states"].shape[:2] == (1, 16) and t["text_mask"].shape == (1, 16)
        assert t["text_pooled"].shape[0] == 1


def test_letterbox_crop_and_bucket_shape(curated):
    root, records = curated
    rec = next(r for r in records if r["source"] == "b.mp4")
    assert rec["bucket_aspect"] == "21:9"  # 160x68 after cropping the bars
    shape = target_shape(rec, 32, 8.0)
    assert shape == (5, 32, 80)
    clip = load_clip(root, rec, shape, 8.0)
    assert clip.shape == (5, 32, 80, 3)
    assert clip[:, :2].mean() > 40  # no black bar left at the top


def test_precompute_resumes_finished_shards(curated, tmp_path):
    root, records = curated
    calls = []

    def encode(x):  # a real, small 3D conv encoder: 8x spatial, 4x temporal like the VAE
        calls.append(x.shape[0])
        conv = torch.nn.Conv3d(3, 4, kernel_size=(1, 8, 8), stride=(1, 8, 8))
        torch.nn.init.constant_(conv.weight, 0.01)
        return conv(x)[:, :, ::4]

    precompute_latents(records, root, tmp_path, encode, short_side=32, fps=8, shard_size=1, batch_size=1)
    assert len(calls) == 2
    files = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("shard_*")}
    (next(tmp_path.rglob("index.json"))).unlink()  # as if killed before the index was written
    precompute_latents(records, root, tmp_path, encode, short_side=32, fps=8, shard_size=1, batch_size=1)
    assert len(calls) == 2  # nothing re-encoded
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("shard_*")} == files
    assert len(list(tmp_path.rglob("index.json"))) == len({target_shape(r, 32, 8.0) for r in records})
    assert not list(tmp_path.rglob("*.tmp"))


def test_cli_runs_latent_precompute_when_configured(curated, models, tmp_path):
    import json

    import typer
    from typer.testing import CliRunner

    from vitascope.curate.command import curate
    from vitascope.data.shards import LatentShards

    root, _ = curated
    cfg = {
        "text": {"enabled": False},
        "embed": {"clusters": 1},
        "encode": {"vae_folder": str(models / "vae"), "short_side": 32, "fps": 8.0},
    }
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    app = typer.Typer()
    app.command()(curate)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, [str(root), "--out", str(out), "--config", str(tmp_path / "cfg.json")])
    assert res.exit_code == 0, res.output
    assert "2 clips in 2 buckets" in res.output
    folders = sorted(p.parent for p in (out / "latents").rglob("index.json"))
    assert len(folders) == 2 and all(len(LatentShards(f)) == 1 for f in folders)
