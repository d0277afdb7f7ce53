"""Latent shards: pre-encoded clips the DiT trains on, grouped by bucket (one shape per folder).

    <root>/<frames>x<height>x<width>/shard_00000.safetensors   "latents" [N, C, T, h, w] (scaled latents)
    <root>/<frames>x<height>x<width>/shard_00000.json          [{"caption": ..., "structured": {...}, ...}] * N
    <root>/<frames>x<height>x<width>/index.json                shard list; written last (marks it complete)
    <root>/encoders.json     (curated shards) the VAE / LLM / CLIP folders and max_length they were encoded with

The curation pipeline's encode stage and `build_synthetic_pool` both write this layout. Curated shards
also hold the captions' text conditioning, "text_states" [N, S, D], "text_mask" [N, S], "text_pooled" [N, D2],
and each record a "sample_weight" (the dedup/cluster resampling weight); the trainer uses both.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from vitascope.errors import ModelFolderError

log = logging.getLogger(__name__)


TEXT_KEYS = ("text_states", "text_mask", "text_pooled")


def write_shard(folder: str | Path, index: int, latents: torch.Tensor, records: list[dict]) -> Path:
    """Write one shard (tensor file then its JSON, each via temp + rename)."""
    from vitascope.io.files import save_safetensors_atomic, write_json_atomic

    if latents.shape[0] != len(records):
        raise ValueError(f"{latents.shape[0]} latents but {len(records)} records")
    folder = Path(folder)
    base = folder / f"shard_{index:05d}"
    save_safetensors_atomic(base.with_suffix(".safetensors"), {"latents": latents.detach().float()})
    write_json_atomic(base.with_suffix(".json"), records, indent=None, sort_keys=False)
    return base


def finish_shards(folder: str | Path) -> None:
    from vitascope.io.files import write_json_atomic

    folder = Path(folder)
    names = sorted(p.stem for p in folder.glob("shard_*.safetensors"))
    write_json_atomic(folder / "index.json", {"shards": names}, indent=None)


def shard_buckets(root: str | Path) -> dict[str, tuple[int, int, int]]:
    """The finished bucket folders under `root`: {"FxHxW": (frames, height, width)}."""
    out = {}
    for index in sorted(Path(root).glob("*/index.json")):
        parts = index.parent.name.split("x")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            out[index.parent.name] = tuple(int(p) for p in parts)
    return out


def read_encoders(root: str | Path) -> dict:
    """What curated shards were encoded with ({} when `root` has no encoders.json)."""
    path = Path(root) / "encoders.json"
    return json.loads(path.read_text()) if path.exists() else {}


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
        parts: dict[str, list[torch.Tensor]] = {}
        recs = []
        for name in json.loads(index.read_text())["shards"]:
            for k, v in load_file(str(folder / f"{name}.safetensors")).items():
                parts.setdefault(k, []).append(v)
            recs.extend(json.loads((folder / f"{name}.json").read_text()))
        self.latents = torch.cat(parts["latents"]) if parts else torch.empty(0)  # [N, C, T, h, w]
        self.records = recs
        if len(self.records) != len(self.latents):
            raise ModelFolderError(
                f"{folder}: {len(self.latents)} latents but {len(self.records)} caption records"
            )
        # Precomputed text conditioning of each record's caption (curated shards), else None.
        have = all(k in parts and len(parts[k]) == len(parts["latents"]) for k in TEXT_KEYS)
        self.text = {k: torch.cat(parts[k]) for k in TEXT_KEYS} if have else None
        # Resampling weights (curation's dedup/cluster balance); uniform when absent.
        w = np.array([float(r.get("sample_weight") or 1.0) for r in recs], dtype=np.float64)
        self.probs = w / w.sum() if len(w) and w.sum() > 0 and np.ptp(w) > 0 else None

    def __len__(self) -> int:
        return len(self.records)

    def draw(self, rng: np.random.Generator) -> int:
        """A record index, drawn in proportion to the records' sample_weight."""
        if self.probs is None:  # uniform: one integer draw (the synthetic pools' historical stream)
            return int(rng.integers(len(self)))
        return int(rng.choice(len(self), p=self.probs))


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
    from vitascope.train.logging import progress

    log.info("encoding %d world clips for bucket %s", n, bucket.key)
    scale = vae.config.scaling_factor
    bar = progress(total=n, desc=f"latent pool {bucket.key}", unit="clip")
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
        bar.update(len(specs))
    bar.close()
    finish_shards(folder)
    return LatentShards(folder)
