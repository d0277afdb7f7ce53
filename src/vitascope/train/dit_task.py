"""The DiT task of the loop: data of one micro-batch, its flow-matching loss, previews and export.

Every random choice of a sample (which clip, caption form, text dropout, noise, t) comes from a generator
seeded by (recipe seed, step, micro-batch, global sample index). A run is therefore a function of its step
only: resuming reproduces the next loss exactly, and N processes see the samples one process would.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from vitascope.data.shards import TEXT_KEYS
from vitascope.flow import sample_t
from vitascope.models.dit.config import DiTConfig
from vitascope.models.dit.model import HunyuanVideoDiT
from vitascope.train.buckets import Bucket
from vitascope.train.checkpoint import atomic_text, run_folder
from vitascope.train.logging import quiet_loggers
from vitascope.train.loss import flow_matching_loss
from vitascope.train.recipes import Recipe

log = logging.getLogger(__name__)

RANDOM_POOL = 8  # distinct items of the "random" dataset: small, so a few steps visibly lower the loss
PREVIEW_PROMPTS = (
    "a red circle moving right on a black background",
    "a green square moving up on a black background",
)


def text_folder(recipe: Recipe, run_dir: Path, run_root: Path) -> Path:
    """The run's text encoders: `text_from` (a folder, or the name of an earlier DiT run under run_root
    whose encoders to share), else the ones this run writes into run_dir/text_encoders."""
    if not recipe.text_from:
        return Path(run_dir) / "text_encoders"
    return run_folder(recipe.text_from, run_root, "text_encoders")


def sample_seed(*parts) -> int:
    return int(np.random.default_rng([int(p) for p in parts]).integers(2**62))


def shard_dit_config(recipe: Recipe) -> DiTConfig:
    """The recipe's DiT with the latent channels and text widths of its curated shards (first shard read)."""
    import dataclasses

    from safetensors import safe_open

    from vitascope.data.shards import shard_buckets
    from vitascope.errors import ModelFolderError

    key = next(iter(shard_buckets(recipe.shards)), None)
    if key is None:
        raise ModelFolderError(f"{recipe.shards} holds no finished latent shards")
    folder = Path(recipe.shards) / key
    first = json.loads((folder / "index.json").read_text())["shards"][0]
    with safe_open(str(folder / f"{first}.safetensors"), "pt") as f:
        shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118 (safe_open has no iter)
    widths = {"in_channels": shapes["latents"][1], "out_channels": shapes["latents"][1]}
    if "text_states" in shapes and "text_pooled" in shapes:
        widths |= {
            "text_states_dim": shapes["text_states"][-1],
            "text_states_dim_2": shapes["text_pooled"][-1],
        }
    if recipe.dit.image_condition_type == "latent_concat":
        widths["in_channels"] = 2 * widths["out_channels"] + 1
    changed = {k: v for k, v in widths.items() if getattr(recipe.dit, k) != v}
    if changed:
        log.info("DiT widths taken from the shards in %s: %s", recipe.shards, changed)
    return dataclasses.replace(recipe.dit, **widths)


def shard_text_encoders(recipe: Recipe, run_root: Path) -> tuple[Path | None, Path | None, int]:
    """(LLM folder, CLIP folder, max_length) for captions of curated shards that are not precomputed
    (variants, the empty caption of text dropout): `text_from`, else the encoders the curation used; (None,
    None, _) when neither is known (then only the shards' precomputed text is used)."""
    from vitascope.data.shards import read_encoders

    enc = read_encoders(recipe.shards)
    length = int(enc.get("max_length", recipe.text_len))
    if recipe.text_from:
        root = run_folder(recipe.text_from, run_root, "text_encoders")
        return root / "text_encoder", root / "text_encoder_2", length
    if enc.get("llm_folder") and enc.get("clip_folder"):
        return Path(enc["llm_folder"]), Path(enc["clip_folder"]), length
    log.warning(
        "%s names no text encoders (encoders.json): training uses the precomputed caption states only, "
        "without caption variants or text dropout",
        recipe.shards,
    )
    return None, None, length


class DiTTask:
    kind = "dit"

    def __init__(
        self,
        recipe: Recipe,
        run_dir: Path,
        run_root: Path,
        rank: int = 0,
        world: int = 1,
        device: torch.device | None = None,
    ):
        self.recipe, self.run_dir, self.run_root = recipe, Path(run_dir), Path(run_root)
        self.rank, self.world = rank, world
        self.device = torch.device("cpu") if device is None else torch.device(device)
        if recipe.dataset == "shards" and not recipe.shards:
            from vitascope.errors import InvalidOptionError

            raise InvalidOptionError(
                f"recipe {recipe.name!r} trains on curated shards: give their folder with --data DIR"
            )
        # On curated shards the DiT's latent and text widths are those of the data.
        self.dit_config = shard_dit_config(recipe) if recipe.dataset == "shards" else recipe.dit
        # Under several processes only rank 0 builds real weights; the others build on the meta device and
        # receive rank 0's init when the loop shards the model (loop._shard).
        self.on_meta = world > 1 and rank != 0
        self.model = self.new_model(meta=self.on_meta)
        init = recipe.dit_options.init_from
        if init and not self.on_meta:  # an earlier run's export (a folder, or a run's name under run_root)
            self.load_init(run_folder(init, self.run_root, "export", "transformer"))
        if not self.on_meta:
            self.model.to(self.device)
        self.model.gradient_checkpointing = recipe.activation_checkpointing
        self.extra_modules: dict = {}
        self.extra_optimizers: dict = {}
        self.vae = None
        self.llm = self.clip = None  # text encoders and VAE load in prepare()
        self.pools: dict[str, object] = {}
        self._text_cache: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self._prior_steps = recipe.dit_options.text_prior_steps
        self._frozen_loaded = False

    def new_model(self, meta: bool = False) -> HunyuanVideoDiT:
        """The recipe's DiT at its seeded init, drawn on the CPU whatever the device, without touching the
        global RNG. meta: shapes only (no memory)."""
        if meta:
            with torch.device("meta"):
                return HunyuanVideoDiT(self.dit_config)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.recipe.seed)
            return HunyuanVideoDiT(self.dit_config)

    def load_init(self, folder: Path) -> None:
        """Start from the weights of a transformer folder (dit_options.init_from), strictly."""
        self.model.load_state_dict(load_dit(folder).state_dict())

    # -- set-up -----------------------------------------------------------------------------------------

    def _tiny_text_root(self) -> Path:
        """The run's own tiny text encoders (written on first use, with the language prior if asked)."""
        r = self.recipe
        text_root = text_folder(r, self.run_dir, self.run_root)
        if r.text_from is None and not (text_root / "text_encoder_2").exists():
            from vitascope.models.text.tiny import write_tiny_text_encoders

            if self.rank == 0:
                write_tiny_text_encoders(text_root, layout="tencent")
                if self._prior_steps:  # stand-in for the pretraining real encoders come with
                    from vitascope.train.text_prior import pretrain_text_encoders

                    stats = pretrain_text_encoders(text_root, steps=self._prior_steps, max_length=r.text_len)
                    atomic_text(
                        text_root / "text_prior.json", json.dumps({"steps": self._prior_steps} | stats)
                    )
            _barrier()
        elif self._prior_steps and r.text_from is None:
            marker = text_root / "text_prior.json"
            done = json.loads(marker.read_text())["steps"] if marker.exists() else 0
            if done < self._prior_steps:
                log.warning(
                    "the text encoders in %s had %d language-prior steps (a short run wrote them), not %d; "
                    "delete that folder and the checkpoints to train with the full prior",
                    text_root,
                    done,
                    self._prior_steps,
                )
        return text_root

    def _load_frozen(self) -> None:
        from vitascope.models.text.clip import CLIPEncoder
        from vitascope.models.text.llm import LLMEncoder
        from vitascope.models.vae import load_vae

        r = self.recipe
        if r.dataset == "shards":
            llm_dir, clip_dir, max_length = shard_text_encoders(r, self.run_root)
        else:
            root = self._tiny_text_root()
            llm_dir, clip_dir, max_length = root / "text_encoder", root / "text_encoder_2", r.text_len
        if llm_dir is not None:
            self.llm = LLMEncoder.from_folder(llm_dir, max_length=max_length)
            self.clip = CLIPEncoder.from_folder(clip_dir)
        if r.dataset == "synthetic":
            vae_dir = run_folder(r.vae_from, self.run_root, "export", "vae")
            self.vae = load_vae(vae_dir, device=self.device).requires_grad_(False)
            self.vae_dir = vae_dir

    def prepare(self, steps_to_run: int | None = None) -> None:
        """Note how many samples this call can consume: a short (smoke) run encodes a smaller pool."""
        if steps_to_run is not None:
            most = max(b.batch_size for s in self.recipe.stages for b in s.buckets)
            self._pool_cap = max(8, steps_to_run * most * self.recipe.grad_accum)
            # a smoke run gets a short language prior too (checked against the full one on resume)
            self._prior_steps = min(self._prior_steps, max(20, 20 * steps_to_run))
        if self.recipe.dataset != "random" and not self._frozen_loaded:
            self._load_frozen()
            self._frozen_loaded = True

    def _pool(self, bucket: Bucket):
        """The latent pool of a bucket, encoded on first use (rank 0 writes; the others wait and read).

        Synthetic pools live under latents/<vae hash>_<size>/: a different VAE or size never reuses them."""
        if bucket.key in self.pools:
            return self.pools[bucket.key]
        from vitascope.data.shards import LatentShards, build_synthetic_pool

        if self.recipe.dataset == "shards":
            self.pools[bucket.key] = LatentShards(Path(self.recipe.shards) / bucket.key)
            return self.pools[bucket.key]
        n = min(self.recipe.pool_size, getattr(self, "_pool_cap", self.recipe.pool_size))
        travel = self.recipe.dit_options.travel_range
        tag = f"_travel{travel[0]:g}-{travel[1]:g}" if travel else ""
        root = self.run_dir / "latents" / f"{self._vae_hash()}_{n}{tag}"
        if self.rank == 0:
            build_synthetic_pool(
                root,
                self.vae,
                bucket,
                n,
                self.recipe.seed,
                self.recipe.simple_fraction,
                travel_range=tuple(travel) if travel else None,
            )
        _barrier()
        self.pools[bucket.key] = LatentShards(root / bucket.key)
        return self.pools[bucket.key]

    def _vae_hash(self) -> str:
        import hashlib

        h = hashlib.sha256()
        for k, v in sorted(self.vae.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().float().cpu().numpy().tobytes())
        return h.hexdigest()[:10]

    # -- one micro-batch ---------------------------------------------------------------------------------

    def _encode_text(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        todo = [c for c in dict.fromkeys(captions) if c not in self._text_cache]
        if todo:
            # Variants longer than text_len are cut, as at inference; the encoders' warnings would flood
            # the log (their levels are restored afterwards).
            with quiet_loggers("vitascope.models.text.llm", "vitascope.models.text.clip"):
                states = self.llm.encode(todo)
                pooled = self.clip.encode(todo)
            for i, c in enumerate(todo):
                self._text_cache[c] = (states.states[i], states.mask[i], pooled[i])
        items = [self._text_cache[c] for c in captions]
        return tuple(torch.stack([it[k] for it in items]) for k in range(3))  # type: ignore[return-value]

    def _latent_shape(self, b: Bucket) -> tuple[int, int, int, int]:
        c = self.dit_config
        if self.vae is not None:
            t, h, w = self.vae.config.latent_shape(b.frames, b.height, b.width)
        else:  # the 884 layout of HunyuanVideo's VAE
            t, h, w = (b.frames - 1) // 4 + 1, b.height // 8, b.width // 8
        return c.in_channels, t, h, w

    def _random_item(self, b: Bucket, idx: int):
        """Item `idx` of the random dataset: smooth random latents and random text tied to them."""
        g = torch.Generator().manual_seed(sample_seed(self.recipe.seed, 99, idx))
        C, T, H, W = self._latent_shape(b)
        coarse = torch.randn(C, T, max(1, H // 2), max(1, W // 2), generator=g)
        x0 = torch.nn.functional.interpolate(coarse[None], size=(T, H, W), mode="trilinear")[0]
        c = self.dit_config
        S = self.recipe.text_len
        states = torch.randn(S, c.text_states_dim, generator=g)
        mask = (torch.arange(S) < int(torch.randint(1, S + 1, (1,), generator=g))).long()
        return x0, states, mask, torch.randn(c.text_states_dim_2, generator=g)

    def micro_loss(self, step: int, micro: int, bucket: Bucket, indices: range) -> tuple[torch.Tensor, dict]:
        """Mean loss over this rank's samples `indices` of the global micro-batch."""
        r, c = self.recipe, self.dit_config
        shared = np.random.default_rng([r.seed, step, micro, 1])
        i2v = bucket.frames > 1 and shared.random() < r.i2v_prob
        x0s, noises, ts, texts, guid = [], [], [], [], []
        for g in indices:
            rng = np.random.default_rng([r.seed, step, micro, 2, g])
            gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
            if r.dataset == "random":
                x0, *text = self._random_item(bucket, int(rng.integers(RANDOM_POOL)))
            else:
                x0, text = self._pool_item(self._pool(bucket), rng)
            x0s.append(x0)
            texts.append(text)
            noises.append(torch.randn(x0.shape, generator=gen))
            ts.append(sample_t(1, r.t_sampler, shift=r.t_shift, generator=gen))
            guid.append(float(rng.uniform(*r.guidance_range)) * 1000.0)
        x0, noise, t = torch.stack(x0s), torch.stack(noises), torch.cat(ts)
        states, mask, pooled = self._text_batch(texts)
        guidance = torch.tensor(guid) if c.guidance_embed else None
        # Everything above is drawn on the CPU (the same samples on any device); the maths runs on the device.
        x0, noise, t, states, mask, pooled = (v.to(self.device) for v in (x0, noise, t, states, mask, pooled))
        guidance = guidance.to(self.device) if guidance is not None else None
        loss = flow_matching_loss(
            self.model, x0, noise, t, states, mask, pooled, guidance, first_frame_clean=i2v
        )
        return loss.mean(), {"i2v": float(i2v), "t_mean": float(t.mean())}

    def _pool_item(self, pool, rng: np.random.Generator):
        """(latent, text) of one sample: text is a caption to encode, or a precomputed (states, mask,
        pooled) of curated shards. The record is drawn by its sample_weight; dropout gives the empty caption."""
        if pool.text is None and self.llm is None:
            from vitascope.errors import ModelFolderError

            raise ModelFolderError(
                f"{self.recipe.shards}: the shards hold no text states and no text encoders are known; "
                "set encode.llm_folder and encode.clip_folder in the curation config, or the recipe's text_from"
            )
        idx = pool.draw(rng)
        caption, canonical = self._caption(pool.records[idx], rng)
        drop = rng.random() < self.recipe.text_dropout
        if pool.text is not None and (self.llm is None or (canonical and not drop)):
            # Without encoders neither a variant nor the empty caption can be encoded: the stored text is used.
            return pool.latents[idx], tuple(pool.text[k][idx] for k in TEXT_KEYS)
        return pool.latents[idx], "" if drop else caption

    def _text_batch(self, texts: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stack per-sample texts (captions encoded here, in one call) as [B, S, D], [B, S], [B, D2]; token
        axes of different lengths are padded (mask 0)."""
        todo = [x for x in texts if isinstance(x, str)]
        enc = dict(zip(todo, zip(*self._encode_text(todo), strict=True), strict=True)) if todo else {}
        items = [enc[x] if isinstance(x, str) else x for x in texts]
        S = max(it[0].shape[0] for it in items)

        def pad(v: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.pad(v, (0, 0) * (v.dim() - 1) + (0, S - v.shape[0]))

        states = torch.stack([pad(it[0].float()) for it in items])
        mask = torch.stack([pad(it[1].long()) for it in items])
        return states, mask, torch.stack([it[2].float() for it in items])

    def _caption(self, record: dict, rng: np.random.Generator) -> tuple[str, bool]:
        """(caption, whether it is the record's own caption) : a structured-caption variant
        (1 - canonical_fraction) of the time when the record has a structured caption."""
        from vitascope.captions import caption_variant

        if record.get("structured") and rng.random() >= self.recipe.canonical_fraction:
            return caption_variant(record["structured"], rng), False
        return record["caption"], True

    # -- previews and export -----------------------------------------------------------------------------

    def preview(self, step: int, model: torch.nn.Module) -> list[Path]:
        """Sample videos with the given (EMA) weights: one T2V per preview prompt, written as mp4."""
        if self.vae is None:
            return []
        from vitascope.media import write_video
        from vitascope.models.dit.sampling import TextCondition, sample_dit
        from vitascope.train.evaluate import latents_to_frames

        stage = self.recipe.stage_at(step)[1]
        video = max(stage.buckets, key=lambda b: b.frames)
        dev = next(model.parameters()).device
        out = []
        for i, prompt in enumerate(PREVIEW_PROMPTS):
            cond = TextCondition(*(v.to(dev) for v in self._encode_text([prompt])))
            empty = TextCondition(*(v.to(dev) for v in self._encode_text([""])))
            g = torch.Generator().manual_seed(
                i
            )  # noise drawn on the CPU: a seed means the same clip anywhere
            noise = torch.randn(1, *self._latent_shape(video), generator=g).to(dev)
            with torch.no_grad():
                lat = sample_dit(
                    model,
                    noise,
                    cond,
                    empty,
                    steps=20,
                    shift=self.recipe.t_shift,
                    guidance=4.0,  # used only by DiTs that embed guidance (true CFG is off for them)
                    cfg_scale=1.0 if model.config.guidance_embed else 4.0,
                    dtype=next(model.parameters()).dtype,
                )
            frames = latents_to_frames(self.vae, lat)
            out.append(write_video(frames, self.run_dir / "samples" / f"step_{step:06d}_{i}.mp4", fps=8))
        return out

    def export(self, folder: Path, model: torch.nn.Module) -> Path:
        """transformer/config.json + model.safetensors (Tencent key names) from `model`'s weights."""
        from vitascope.train.checkpoint import atomic_safetensors, atomic_text

        target = Path(folder) / "transformer"
        atomic_safetensors(target / "model.safetensors", model.state_dict())
        atomic_text(target / "config.json", json.dumps(self.dit_config.to_dict(), indent=2) + "\n")
        return target


def load_dit(folder: Path) -> HunyuanVideoDiT:
    """A transformer folder's DiT (the pose variant when its keys say so), loaded strictly."""
    from safetensors.torch import load_file

    from vitascope.models.pose import dit_class_for_state

    folder = Path(folder)
    cfg = DiTConfig.from_dict(json.loads((folder / "config.json").read_text()))
    state = load_file(str(folder / "model.safetensors"))
    model = dit_class_for_state(state)(cfg)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
