"""The avatar task of the loop (`Recipe.kind == "avatar"`): the HunyuanVideo-Avatar DiT trained on the
talking-head world, with the release's inputs (reference latents, Whisper windows per frame, face masks,
motion and fps embeddings, LLaVA text with the reference image), exported in the release's folder layout.

A micro-batch sample: a clip of the pool, a window of W latent frames of it (any start, as the pipeline's
shifted windows), its audio frames by the pipeline's rule (`flow.avatar.window_audio_indices`), noise and t.
Audio and text are dropped as the pipeline's guidance branches need (zero audio: "no_audio"; zero audio and
the negative prompt: "negative"); the face mask is scaled 0.6 half of the time (the pipeline's first steps).
The loss is the flow-matching MSE with extra weight on the mouths, plus (motion_weight) the error of the
mouths' motion over the window. Every choice is seeded by (recipe seed,
step, micro-batch, sample), so a resumed run continues exactly.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from vitascope.flow import sample_t
from vitascope.flow.path import interpolate, velocity_target
from vitascope.train.avatar_pool import load_pool, vae_hash
from vitascope.train.buckets import Bucket
from vitascope.train.checkpoint import run_folder
from vitascope.train.dit_task import sample_seed
from vitascope.train.recipes import Recipe

log = logging.getLogger(__name__)

DIT_FILE = Path("hunyuan-video-t2v-720p") / "transformers" / "mp_rank_00_model_states.pt"
MOTION_EXP, MOTION_POSE, FPS = 30.0, 25.0, 25.0  # the release's frozen motion buckets and fps


class AvatarTask:
    kind = "avatar"

    def __init__(self, recipe: Recipe, run_dir: Path, run_root: Path, rank=0, world=1, device=None):
        self.recipe, self.run_dir, self.run_root = recipe, Path(run_dir), Path(run_root)
        self.rank, self.world = rank, world
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.opts = recipe.avatar_options
        self.on_meta = world > 1 and rank != 0
        self.model = self.new_model(meta=self.on_meta)
        if self.opts.init_from and not self.on_meta:  # an earlier avatar run's export (stage 2 on stage 1)
            src = run_folder(self.opts.init_from, self.run_root, "export") / "ckpts" / DIT_FILE
            state = torch.load(src, weights_only=True, map_location="cpu")["module"]
            missing, unexpected = self.model.load_state_dict(state, strict=False)
            if unexpected:
                raise ValueError(f"{src}: unexpected keys {unexpected[:3]}")
            log.info("avatar: started from %s (%d new parameters)", src, len(missing))
        if not self.on_meta:
            self.model.to(self.device)
        self._freeze_idle_adapters()
        self.model.gradient_checkpointing = recipe.activation_checkpointing
        self.extra_modules: dict = {}
        self.extra_optimizers: dict = {}
        self.pools: dict[str, list[dict]] = {}
        self.encoders = None
        self.probe = None  # the lip-sync read-out (sync_weight > 0), fitted on the first pool

    def _freeze_idle_adapters(self) -> None:
        """The release builds ten audio adapters whatever the depth; those past the last double block never
        run. Frozen, they stay out of the optimizer (which keeps no state for them, so checkpoints resume)."""
        from vitascope.models.audio.avatar_dit import ADAPTER_AFTER

        depth = self.recipe.dit.mm_double_blocks_depth
        for i, after in enumerate(ADAPTER_AFTER):
            if after >= depth:
                self.model.audio_adapter_blocks[i].requires_grad_(False)

    def new_model(self, meta: bool = False):
        from vitascope.models.audio.avatar_dit import AvatarDiT

        o = self.opts
        kw = dict(
            audio_channels=o.whisper_width,
            audio_layers=o.whisper_layers + 1,
            adapter_dim_head=o.adapter_dim_head,
            audio_hidden=o.audio_hidden,
        )
        if o.emotion:
            kw["emotion"] = True
        if meta:
            with torch.device("meta"):
                return AvatarDiT(self.recipe.dit, **kw)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.recipe.seed)
            return AvatarDiT(self.recipe.dit, **kw)

    # -- set-up -----------------------------------------------------------------------------------------

    def prepare(self, steps_to_run: int | None = None) -> None:
        from vitascope.train.avatar_encoders import load_encoders

        if self.encoders is None:
            self.encoders = load_encoders(self.recipe, self.run_dir, self.run_root, self.rank)
        for stage in self.recipe.stages:
            for b in stage.buckets:
                self._pool(b)
        if self.opts.sync_weight > 0 and self.probe is None:
            from vitascope.train.avatar_sync import fit_probe

            self.probe = fit_probe(self._pool(self.recipe.stages[0].buckets[0]))
            log.info("avatar: lip-sync read-out fitted on the pool (correlation %.3f)", self.probe.corr)

    def _pool(self, bucket: Bucket) -> list[dict]:
        from vitascope.train.avatar_encoders import build_pool

        key = f"{bucket.height}x{bucket.width}"
        if key not in self.pools:
            o = self.opts
            kind = pool_kind(o, bucket)
            emo = "_emotion" if o.emotion else ""
            name = f"{vae_hash(self.encoders.vae)}_{key}_{o.pool_size}_{kind}{emo}_w{o.window}_{pool_options_hash(o)}.pt"
            path = self.run_dir / "latents" / name
            if self.rank == 0 and not path.exists():
                build_pool(path, self.recipe, self.encoders, bucket.height, bucket.width, kind)
            _barrier()
            self.pools[key] = load_pool(path)
        return self.pools[key]

    # -- one micro-batch ---------------------------------------------------------------------------------

    def _sample(self, item: dict, rng: np.random.Generator) -> dict:
        """One training sample's inputs (CPU tensors) from a pool item."""
        o, W = self.opts, self.opts.window
        start = int(rng.integers(0, item["latents"].shape[1] - W + 1))
        idx = 4 * start + torch.arange(4 * W - 3)  # flow.avatar.window_audio_indices
        u = rng.random()
        drop_text = u < o.drop_both
        drop_audio = drop_text or u < o.drop_both + o.drop_audio
        audio = item["audio"][:, idx].float()  # [N, 4W-3, 10, K, D]
        if drop_audio:
            audio = torch.zeros_like(audio)
        face = item["face"] * (0.6 if rng.random() < 0.5 else 1.0)  # [N, 1, h, w]
        N = audio.shape[0]
        if N == 1:  # one speaker: the release's input shapes
            audio, face = audio[0], face[0][:, None]  # [F, 10, K, D], [1, 1, h, w]
        # several: audio [N, F, 10, K, D] and face [N, 1, h, w] (batched: [B, N, F, ...], [B, N, 1, h, w])
        p = "neg_" if drop_text else ""
        out = {
            "x0": item["latents"][:, start : start + W],
            "mouth": item["mouth"][:, start : start + W],
            "ref_latents": item["ref"],
            "audio": audio,
            "face_mask": face,
            "states": item[p + "states"],
            "mask": item[p + "mask"],
            "pooled": item[p + "pooled"],
        }
        if o.emotion:
            out["emotion_latents"] = item["emotion"]
        return out

    def micro_loss(self, step: int, micro: int, bucket: Bucket, indices: range) -> tuple[torch.Tensor, dict]:
        r, o = self.recipe, self.opts
        pool = self._pool(bucket)
        samples, noises, ts = [], [], []
        for g in indices:
            rng = np.random.default_rng([r.seed, step, micro, 2, g])
            gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
            s = self._sample(pool[int(rng.integers(len(pool)))], rng)
            samples.append(s)
            noises.append(torch.randn(s["x0"].shape, generator=gen))
            ts.append(sample_t(1, r.t_sampler, shift=r.t_shift, generator=gen))
        batch = {k: torch.stack([s[k] for s in samples]).to(self.device) for k in samples[0]}
        if o.emotion and np.random.default_rng([r.seed, step, micro, 1]).random() < o.drop_both:
            batch.pop("emotion_latents")  # the pipeline's negative branch has no emotion reference
        noise, t = torch.stack(noises).to(self.device), torch.cat(ts).to(self.device)
        x0 = batch.pop("x0")
        weight = 1.0 + o.mouth_weight * batch.pop("mouth")  # [B, 1, W, h, w]
        states, mask, pooled = batch.pop("states"), batch.pop("mask"), batch.pop("pooled")
        B = x0.shape[0]
        count = torch.arange(mask.shape[1], device=self.device)[None] < mask.sum(1, keepdim=True)
        extra = batch | {
            "motion_exp": torch.full((B, 4), MOTION_EXP, device=self.device),
            "motion_pose": torch.full((B, 4), MOTION_POSE, device=self.device),
            "fps": torch.full((B,), FPS, device=self.device),
            "attn_text_mask": count,
        }
        pred = self.model(interpolate(x0, noise, t), t * 1000.0, states, mask, pooled, **extra)
        err = pred.float() - velocity_target(x0, noise)  # [B, C, W, h, w]
        loss = (err**2 * weight).mean(dim=(1, 2, 3, 4)) / weight.mean(dim=(1, 2, 3, 4))
        mouth = (weight > 1).float()  # [B, 1, W, h, w]
        area = (mouth.sum() * x0.shape[1]).clamp(min=1)
        mouth_err = (err**2 * mouth).sum() / area
        # The clean-latent error (x0_hat - x0 = -t * err) on the mouths, minus its mean over the window: the
        # mouth's motion. The reference image explains the mouth's mean; only the audio explains its motion,
        # a few percent of the mouth's MSE, which the plain loss lets the model leave to chance.
        x0_err = t.view(-1, 1, 1, 1, 1) * err
        motion = x0_err - (x0_err * mouth).sum(2, keepdim=True) / mouth.sum(2, keepdim=True).clamp(min=1)
        motion_err = (motion**2 * mouth).sum() / area
        total = loss.mean() + o.motion_weight * motion_err
        stats = {"t_mean": float(t.mean()), "mouth_mse": float(mouth_err.detach())}
        stats["motion_mse"] = float(motion_err.detach())
        if self.probe is not None:
            from vitascope.train.avatar_sync import sync_error

            sync = sync_error(self.probe, x0 - x0_err, x0, mouth)  # x0 - t * err is the model's x0 estimate
            total = total + o.sync_weight * sync
            stats["sync_mse"] = float(sync.detach())
        return total, stats

    # -- previews and export -----------------------------------------------------------------------------

    def preview(self, step: int, model: torch.nn.Module) -> list[Path]:
        return []

    def export(self, folder: Path, model: torch.nn.Module) -> Path:
        """The release's layout (what `pipelines.avatar_loader.load_avatar_pipeline` loads), see
        train/avatar_encoders.write_release_folder."""
        from vitascope.train.avatar_encoders import write_release_folder

        if self.rank == 0:
            state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            write_release_folder(Path(folder), self.recipe, self.encoders, state)
            (Path(folder) / "recipe.json").write_text(json.dumps(self.recipe.to_json(), indent=1) + "\n")
        return Path(folder)


def pool_options_hash(opts) -> str:
    """A short hash of the options that change what a pool holds (besides those in its name), and of the pool
    format's version, so a cached pool is only reused by a run that would build the same one."""
    import hashlib

    keys = ("clip_frames", "first_frame_ref", "ref_jitter", "emotion_swap", "audio_context", "prompt", "text_len")
    text = json.dumps({"format": 4, **{k: getattr(opts, k) for k in keys}}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def pool_kind(opts, bucket: Bucket) -> str:
    """ "duo" (two faces, one silent) for the wide buckets of a "mixed" or "duo" recipe, else "single"."""
    if opts.data == "duo" or (opts.data == "mixed" and bucket.width > bucket.height):
        return "duo"
    return "single"


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def sample_seed_of(recipe: Recipe, *parts) -> int:
    return sample_seed(recipe.seed, *parts)
