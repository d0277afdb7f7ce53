"""LoRA fine-tuning of a model folder on the one training loop (checkpoints, resume, time budget, previews).

The task is `DiTTask` with three differences: the DiT, VAE and text encoders come from the base model folder
(the bundled demo model by default) instead of a fresh init; a PEFT LoRA is injected and is the only thing
that trains (`convert.lora_peft.add_trainable_lora`); the export is one LoRA file (our default
`diffusion_model.` format, docs/lora.md) instead of a transformer folder.

Data (train/lora_data.py): latent shards (`vitascope curate` output, or any folder with `<F>x<H>x<W>/index.json`
bucket folders encoded with the base model's VAE), or a folder of clip.mp4 + clip.txt pairs, encoded here with
the base's VAE and text encoders (cached under the run). The recipe is built by `lora_recipe` from a preset
(`lora`, `lora-i2v`), the data and the base model's DiT config and defaults.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import torch

from vitascope.errors import InvalidOptionError
from vitascope.models.dit.config import DiTConfig
from vitascope.train.buckets import Bucket
from vitascope.train.dit_task import DiTTask, _barrier
from vitascope.train.options import LoraOptions
from vitascope.train.recipes import Recipe, Stage

log = logging.getLogger(__name__)

LORA_FILE = "lora.safetensors"
RELEASED_WIDTH = 3072  # HunyuanVideo's hidden size, the only one diffusers' loader splits linear1 LoRAs at


def _base_dit_config(base: Path) -> DiTConfig:
    cfg = base / "transformer" / "config.json"
    if not cfg.exists():
        raise InvalidOptionError(f"{base} is not a vitascope model folder (no transformer/config.json)")
    return DiTConfig.from_dict(json.loads(cfg.read_text()))


# The two presets. "lora": T2V on every Linear of the double/single blocks except the modulation ones
# (musubi-tuner's choice, "blocks"; on a base narrower than the release "portable", which leaves out the
# single blocks' linear1 so the file loads in diffusers), sized for the demo model (docs/lora.md tutorial). "lora-i2v": the official
# HunyuanVideo-I2V LoRA script's recipe: I2V conditioning on every sample (first latent frame clean, token
# replace), its target list (modulation linears included), rank 64, alpha 64, lr 1e-4.
# Both preserve the base's prior with weight 1 where the base names its prompts (a new colour taught without
# it turned every colour of the demo model's into the new one: docs/lora.md).
PRESETS = {
    "lora": {"rank": 16, "alpha": None, "targets": None, "steps": 400, "lr": 1e-3, "i2v_prob": 0.0,
             "preserve_weight": 1.0},
    "lora-i2v": {"rank": 64, "alpha": 64.0, "targets": "i2v", "steps": 400, "lr": 1e-4, "i2v_prob": 1.0,
                 "preserve_weight": 1.0},
}  # fmt: skip


def lora_recipe(
    data: str | Path,
    base: str | Path | None = None,
    *,
    preset: str = "lora",
    rank: int | None = None,
    alpha: float | None = None,
    targets: str | None = None,
    steps: int | None = None,
    lr: float | None = None,
    batch_size: int = 2,
    seed: int = 0,
    sample_every: int = 0,
    checkpoint_every: int = 50,
    preserve_prompts: str | Path | None = None,
    preserve_weight: float | None = None,
) -> Recipe:
    """A LoRA recipe on `data` (curated shards or a clip.mp4 + clip.txt folder, see train/lora_data.py) for
    the `base` model folder (default: the bundled demo model); None options take the preset's value."""
    from vitascope.pipelines.loader import demo_model_path
    from vitascope.train.lora_data import data_kind, find_shard_buckets, read_captions

    if preset not in PRESETS:
        raise InvalidOptionError(f"unknown LoRA preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    p = PRESETS[preset]
    base = Path(base) if base is not None else demo_model_path()
    dit = _base_dit_config(base)
    meta = json.loads((base / "vitascope.json").read_text()) if (base / "vitascope.json").exists() else {}
    defaults = meta.get("defaults", {})
    if p["i2v_prob"] > 0 and dit.image_condition_type != "token_replace":
        raise InvalidOptionError(
            f"--recipe {preset} needs a base model with token-replace I2V; {base} has "
            f"image_condition_type={dit.image_condition_type!r}"
        )
    kind = data_kind(data)
    if kind == "shards":
        keys = list(find_shard_buckets(data))
    else:  # the base model's default clip shape; captions are checked now, the videos when encoded
        read_captions(data)
        keys = [f"{defaults.get('frames', 17)}x{defaults.get('height', 64)}x{defaults.get('width', 64)}"]
    buckets = tuple(Bucket(*(int(v) for v in k.split("x")), batch_size=batch_size) for k in keys)
    pick = lambda name, value: p[name] if value is None else value  # noqa: E731
    if preserve_prompts is None and (base / "prompts.txt").exists():
        preserve_prompts = base / "prompts.txt"
    if preserve_prompts is not None and not Path(preserve_prompts).is_file():
        raise InvalidOptionError(f"--preserve-prompts {preserve_prompts}: no such file (one prompt per line)")
    if (
        targets is None and p["targets"] is None
    ):  # "blocks", or "portable" where diffusers can't split linear1
        targets = "blocks" if dit.hidden_size == RELEASED_WIDTH else "portable"
    return Recipe(
        name=preset,
        kind="dit",
        dit=dit,
        dataset="shards",
        stages=(Stage("lora", pick("steps", steps), buckets),),
        text_len=int(meta.get("text", {}).get("max_length", 48)),
        lr=pick("lr", lr),
        ema_decay=0.0,  # a short fine-tune: export the weights as trained
        t_shift=float(defaults.get("flow_shift", 1.0)),
        text_dropout=0.0,
        canonical_fraction=1.0,
        i2v_prob=p["i2v_prob"],
        seed=seed,
        sample_every=sample_every,
        checkpoint_every=checkpoint_every,
        log_every=10,
        lora_options=LoraOptions(
            base=str(base),
            data=str(Path(data)),
            data_kind=kind,
            rank=pick("rank", rank),
            alpha=p["alpha"] if alpha is None else alpha,
            targets=pick("targets", targets),
            fps=float(defaults.get("fps", 8)),
            preserve_prompts=None if preserve_prompts is None else str(preserve_prompts),
            preserve_weight=pick("preserve_weight", preserve_weight) if preserve_prompts is not None else 0.0,
        ),  # fmt: skip
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
        self._dit_class = type(pipe.dit)  # before the loop wraps it (FSDP makes a subclass)
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
        self._buckets = self._data_buckets()

    def _data_buckets(self) -> dict[str, Path]:
        """bucket key -> shard folder: the curated shards, or the clips encoded (once, cached) into the run."""
        from vitascope.train.lora_data import encode_clip_folder, find_shard_buckets

        opts = self.recipe.lora_options
        if opts.data_kind == "shards":
            return find_shard_buckets(opts.data)
        bucket = self.recipe.stages[0].buckets[0]
        cache = self.run_dir / "clip_latents"
        shape = (bucket.frames, bucket.height, bucket.width)
        if self.rank == 0:
            encode_clip_folder(opts.data, self.base_pipe, shape, opts.fps, cache)
        _barrier()
        return {bucket.key: encode_clip_folder(opts.data, self.base_pipe, shape, opts.fps, cache)}

    def new_model(self, meta: bool = False) -> torch.nn.Module:
        """A fresh DiT of the base's class with the same LoRA injected (same parameter names), for the loop's
        EMA and export copies, which load the full (gathered) state into it: no deepcopy, which a model
        sharded by FSDP refuses. meta: shapes only."""
        from vitascope.convert.lora_peft import add_trainable_lora

        opts = self.recipe.lora_options.adapter
        with torch.random.fork_rng(devices=[]), torch.device("meta") if meta else contextlib.nullcontext():
            model = self._dit_class(self.dit_config)
            add_trainable_lora(model, opts["rank"], opts["alpha"], opts["targets"])
        return model

    def _load_frozen(self) -> None:  # everything came with the base model
        pass

    def micro_loss(self, step: int, micro: int, bucket: Bucket, indices: range) -> tuple[torch.Tensor, dict]:
        loss, info = super().micro_loss(step, micro, bucket, indices)
        opts = self.recipe.lora_options
        if opts.preserve_weight > 0:
            from vitascope.train.lora_preserve import preservation_loss

            keep = preservation_loss(self, step, micro, indices)
            loss = loss + opts.preserve_weight * keep
            info = info | {"preserve": float(keep.detach())}
        return loss, info

    def _pool(self, bucket: Bucket):
        from vitascope.data.shards import LatentShards

        if bucket.key not in self.pools:
            pool = LatentShards(self._buckets[bucket.key])
            if pool.text is not None:  # curated with a longer max_length: keep what the base model reads
                n = self.recipe.text_len  # the LLM is causal and right-padded: the first n states are exact
                pool.text = {
                    k: v[:, :n] if v.dim() > 1 and k != "text_pooled" else v for k, v in pool.text.items()
                }
            self.pools[bucket.key] = pool
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
