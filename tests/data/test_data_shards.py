"""Latent shards, world clips and buckets for training."""

from __future__ import annotations

import pytest
import torch

from vitascope.data.shards import LatentShards, build_synthetic_pool, finish_shards, write_shard
from vitascope.data.synthetic import vae_clip
from vitascope.errors import InvalidOptionError, ModelFolderError
from vitascope.models.vae import CausalVAE3D, VAEConfig
from vitascope.train.buckets import Bucket, nearest_bucket, pick_bucket, split_batch


def test_shards_round_trip_and_incomplete_folders_are_refused(tmp_path):
    lat = torch.randn(3, 4, 2, 2, 2)
    write_shard(tmp_path / "b", 0, lat[:2], [{"caption": "a"}, {"caption": "b"}])
    with pytest.raises(ModelFolderError, match="incomplete"):
        LatentShards(tmp_path / "b")
    write_shard(tmp_path / "b", 1, lat[2:], [{"caption": "c"}])
    finish_shards(tmp_path / "b")
    s = LatentShards(tmp_path / "b")
    assert len(s) == 3 and [r["caption"] for r in s.records] == ["a", "b", "c"]
    assert torch.equal(s.latents, lat)


def test_synthetic_pool_is_encoded_once_and_reused(tmp_path):
    vae = CausalVAE3D(VAEConfig.tiny()).eval()
    b = Bucket(5, 32, 32, 2)
    pool = build_synthetic_pool(tmp_path, vae, b, n=3, seed=0, simple_fraction=1.0, shard_size=2)
    assert pool.latents.shape == (3, 16, 2, 4, 4)
    assert all(r["caption"].endswith("on a black background") for r in pool.records)
    mtime = (tmp_path / b.key / "index.json").stat().st_mtime_ns
    again = build_synthetic_pool(tmp_path, vae, b, n=3, seed=0, simple_fraction=1.0)
    assert (
        torch.equal(again.latents, pool.latents)
        and (tmp_path / b.key / "index.json").stat().st_mtime_ns == mtime
    )


def test_vae_clips_are_deterministic_and_use_frame_intervals():
    a = vae_clip(5, 5, 32, 32, (1, 8), 1.0)
    assert a.shape == (3, 5, 32, 32) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, vae_clip(5, 5, 32, 32, (1, 8), 1.0))
    # A stride-k window of a longer clip: the first frames agree with the stride-1 clip only when k == 1.
    assert not all(
        torch.equal(vae_clip(s, 5, 32, 32, (1, 8), 1.0), vae_clip(s, 5, 32, 32, (1, 1), 1.0))
        for s in range(6)
    )


def test_buckets_pick_split_and_assign():
    import numpy as np

    bs = (Bucket(1, 64, 64, 8), Bucket(17, 64, 64, 2, weight=4.0), Bucket(17, 64, 112, 2))
    draws = [pick_bucket(bs, np.random.default_rng([0, i])).key for i in range(300)]
    assert 0.55 < draws.count("17x64x64") / 300 < 0.8  # weight 4 of 6
    assert nearest_bucket(bs, 20, 360, 640).key == "17x64x112"
    assert nearest_bucket(bs, 3, 64, 64).key == "1x64x64"
    assert list(split_batch(8, 2, 1)) == [4, 5, 6, 7]
    with pytest.raises(InvalidOptionError, match="divisible"):
        split_batch(3, 2, 0)
    with pytest.raises(InvalidOptionError, match="4k\\+1"):
        Bucket(4, 64, 64, 1)
