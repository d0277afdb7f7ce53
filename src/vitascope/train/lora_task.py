"""LoRA fine-tuning of a model folder on the one training loop (checkpoints, resume, time budget, previews).

The task is `DiTTask` with three differences: the DiT, VAE and text encoders come from the base model folder
(the bundled demo model by default) instead of a fresh init; a PEFT LoRA is injected and is the only thing
that trains (`convert.lora_peft.add_trainable_lora`); the export is one LoRA file (our default
`diffusion_model.` format, docs/lora.md) instead of a transformer folder.

Data: latent shards (`vitascope curate` output, or any folder with `<F>x<H>x<W>/index.json` bucket folders
encoded with the base model's VAE), found under `--data`. The recipe is built by `lora_recipe`, from the
shards it finds (one bucket per shape) and the base model's DiT config.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from vitascope.errors import InvalidOptionError
from vitascope.models.dit.config import DiTConfig
from vitascope.train.buckets import Bucket
from vitascope.train.dit_task import DiTTask
from vitascope.train.options import LoraOptions
from vitascope.train.recipes import Recipe, Stage

log = logging.getLogger(__name__)

LORA_FILE = "lora.safetensors"


def find_shard_buckets(data: str | Path) -> dict[str, Path]:
    """bucket key (`17x64x64`) -> folder, for every finished shard folder at most two levels under `data`."""
    data = Path(data)
    found: dict[str, Path] = {}
    for index in (
        sorted(data.glob("index.json"))
        + sorted(data.glob("*/index.json"))
        + sorted(data.glob("*/*/index.json"))
    ):
        key = index.parent.name
        parts = key.split("x")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            found.setdefault(key, index.parent)
    if not found:
        raise InvalidOptionError(
            f"no latent shards under {data}: expected <frames>x<height>x<width>/index.json folders "
            "(the output of `vitascope curate` with latent encoding)"
        )
    return found


def _base_dit_config(base: Path) -> DiTConfig:
    cfg = base / "transformer" / "config.json"
    if not cfg.exists():
        raise InvalidOptionError(f"{base} is not a vitascope model folder (no transformer/config.json)")
    return DiTConfig.from_dict(json.loads(cfg.read_text()))


def lora_recipe(
    data: str | Path,
    base: str | Path | None = None,
    *,
    rank: int = 16,
    alpha: float | None = None,
    targets: str = "blocks",
    steps: int = 300,
    lr: float = 1e-3,
    batch_size: int = 2,
    seed: int = 0,
    sample_every: int = 0,
    checkpoint_every: int = 50,
) -> Recipe:
    from vitascope.pipelines.loader import demo_model_path

    base = Path(base) if base is not None else demo_model_path()
    buckets = tuple(
        Bucket(*(int(p) for p in key.split("x")), batch_size=batch_size) for key in find_shard_buckets(data)
    )
    meta = json.loads((base / "vitascope.json").read_text()) if (base / "vitascope.json").exists() else {}
    return Recipe(
        name="lora",
        kind="dit",
        dit=_base_dit_config(base),
        dataset="shards",
        stages=(Stage("lora", steps, buckets),),
        text_len=int(meta.get("text", {}).get("max_length", 48)),
        lr=lr,
        ema_decay=0.0,  # a short fine-tune: export the weights as trained
        t_shift=float(meta.get("defaults", {}).get("flow_shift", 1.0)),
        text_dropout=0.0,
        canonical_fraction=1.0,
        seed=seed,
        sample_every=sample_every,
        checkpoint_every=checkpoint_every,
        log_every=10,
        lora_options=LoraOptions(
            base=str(base), shards=str(Path(data)), rank=rank, alpha=alpha, targets=targets
        ),
    )


class LoraTask(DiTTask):
    def __init__(
        self, recipe: Recipe, run_dir: Path, run_root: Path, rank: int = 0, world: int = 1, device=None
    ):
        from vitascope.convert.lora_peft import add_trainable_lora
        from vitascope.pipelines.loader import load_pipeline

        self.recipe, self.run_dir, self.run_root = recipe, Path(run_dir), Path(run_root)
        self.rank, self.world = rank, world
        self.device = torch.device("cpu") if device is None else torch.device(device)
        torch.manual_seed(recipe.seed)  # the LoRA's A init: identical on every rank and on resume
        pipe = load_pipeline(recipe.lora_options.base, device=str(self.device))
        self.base_pipe = pipe
        opts = recipe.lora_options.adapter
        n = add_trainable_lora(pipe.dit, opts["rank"], opts["alpha"], opts["targets"])
        log.info("LoRA rank %d on %s: %d trainable parameters", opts["rank"], opts["targets"], n)
        self.model = pipe.dit
        self.model.gradient_checkpointing = recipe.activation_checkpointing
        self.extra_modules, self.extra_optimizers = {}, {}
        self.vae = pipe.vae.requires_grad_(False)
        self.llm, self.clip = pipe.text_encoder, pipe.clip_encoder
        self.text_root = Path(recipe.lora_options.base)
        self.pools: dict[str, object] = {}
        self._text_cache: dict = {}
        self._prior_steps = 0
        self._frozen_loaded = True  # the VAE and text encoders came with the base model
        self.on_meta = False
        self.dit_config = pipe.dit.config
        self._buckets = find_shard_buckets(recipe.lora_options.shards)

    def new_model(self, meta: bool = False) -> torch.nn.Module:
        """A copy with the same (PEFT-wrapped) structure, for the loop's EMA and export copies."""
        import copy

        return copy.deepcopy(self.model)

    def _load_frozen(self) -> None:  # everything came with the base model
        pass

    def _pool(self, bucket: Bucket):
        from vitascope.data.shards import LatentShards

        if bucket.key not in self.pools:
            self.pools[bucket.key] = LatentShards(self._buckets[bucket.key])
        return self.pools[bucket.key]

    def export(self, folder: Path, model: torch.nn.Module) -> Path:
        """One LoRA file (diffusion_model format, metadata: base model, rank, steps)."""
        from vitascope.convert.lora_formats import save_lora
        from vitascope.convert.lora_peft import extract_lora

        path = Path(folder) / LORA_FILE
        if self.rank == 0:
            meta = {
                "vitascope.base_model": self.recipe.lora_options.base,
                "vitascope.lora": self.recipe.lora_options.adapter,
            }
            save_lora(extract_lora(model), path, metadata=meta)
        return path
