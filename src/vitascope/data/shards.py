"""Latent shards: pre-encoded clips the DiT trains on, grouped by bucket (one shape per folder).

    <root>/<frames>x<height>x<width>/shard_00000.safetensors   "latents" [N, C, T, h, w] (scaled latents)
    <root>/<frames>x<height>x<width>/shard_00000.json          [{"caption": ..., "structured": {...}, ...}] * N
    <root>/<frames>x<height>x<width>/index.json                shard list; written last (marks it complete)

The curation pipeline's encode stage and `build_synthetic_pool` both write this layout.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from vitascope.errors import ModelFolderError

log = logging.getLogger(__name__)


def write_shard(folder: str | Path, index: int, latents: torch.Tensor, records: list[dict]) -> Path:
    """Write one shard (tensor file then its JSON, each via temp + rename)."""
    from vitascope.io.files import save_safetensors_atomic, write_json_atomic

    if latents.shape[0] != len(records):
        raise ValueError(f"{latents.shape[0]} latents but {len(records)} records")
    folder = Path(folder)
    base = folder / f"shard_{index:05d}"
    save_safetensors_atomic(base.with_suffix(".safetensors"), {"latents": latents.float()})
    write_json_atomic(base.with_suffix(".json"), records, indent=None, sort_keys=False)
    return base


def finish_shards(folder: str | Path) -> None:
    from vitascope.io.files import write_json_atomic

    folder = Path(folder)
    names = sorted(p.stem for p in folder.glob("shard_*.safetensors"))
    write_json_atomic(folder / "index.json", {"shards": names}, indent=None)


class LatentShards:
    """All shards of one bucket folder, loaded into memory (small models, small pools)."""

    def __init__(self, folder: str | Path):
        from safetensors.torch import load_file

        folder = Path(folder)
        index = folder / "index.json"
        if not index.exists():
            raise ModelFolderError(
                f"{folder} has no index.json: the latent shards are incomplete; re-run the encode step"
            )
        lat, recs = [], []
        for name in json.loads(index.read_text())["shards"]:
            lat.append(load_file(str(folder / f"{name}.safetensors"))["latents"])
            recs.extend(json.loads((folder / f"{name}.json").read_text()))
        self.latents = torch.cat(lat) if lat else torch.empty(0)  # [N, C, T, h, w]
        self.records = recs
        if len(self.records) != len(self.latents):
            raise ModelFolderError(
                f"{folder}: {len(self.latents)} latents but {len(self.records)} caption records"
            )

    def __len__(self) -> int:
        return len(self.records)


def build_synthetic_pool(
    root: str | Path,
    vae,
    bucket,
    n: int,
    seed: int,
    simple_fraction: float,
    shard_size: int = 64,
    travel_range: tuple[float, float] | None = None,
) -> LatentShards:
    """Render `n` world clips of the bucket's shape, encode them (posterior mean x scaling factor) and write
    them as shards; reuses a finished pool. Clip i uses world seed hash(seed, frames, i)."""
    from vitascope.data.synthetic import to_model_range, world_scene
    from vitascope.synthetic.captions import canonical_caption, structured_caption
    from vitascope.synthetic.render import render

    folder = Path(root) / bucket.key
    if (folder / "index.json").exists():
        return LatentShards(folder)
    log.info("encoding %d world clips for bucket %s", n, bucket.key)
    scale = vae.config.scaling_factor
    for s, start in enumerate(range(0, n, shard_size)):
        specs, clips = [], []
        for i in range(start, min(n, start + shard_size)):
            world_seed = int(np.random.default_rng([seed, bucket.frames, bucket.height, i]).integers(2**31))
            spec = world_scene(
                world_seed, bucket.frames, bucket.height, bucket.width, simple_fraction, travel_range
            )
            specs.append(spec)
            clips.append(to_model_range(render(spec)))
        dev = next(vae.parameters()).device  # encode where the VAE lives (a GPU in GPU training runs)
        with torch.no_grad():
            lat = (
                torch.cat(
                    [vae.encode(torch.stack(clips[j : j + 8]).to(dev)).cpu() for j in range(0, len(clips), 8)]
                )
                * scale
            )
        records = [
            {"seed": sp.seed, "caption": canonical_caption(sp), "structured": structured_caption(sp)}
            for sp in specs
        ]
        write_shard(folder, s, lat, records)
    finish_shards(folder)
    return LatentShards(folder)
