"""The VAE task of the loop: world clips (images and videos, random frame intervals), the paper's loss
(L1 + KL + adversarial + LPIPS when available), and export with a measured latent scaling factor."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch

from vitascope.data.synthetic import to_model_range, vae_clip_frames, vae_clip_weight
from vitascope.models.vae import CausalVAE3D, save_vae
from vitascope.train.buckets import Bucket, pick_bucket, split_batch
from vitascope.train.checkpoint import run_folder
from vitascope.train.dit_task import sample_seed
from vitascope.train.loss import (
    PatchDiscriminator,
    generator_adv_loss,
    hinge_d_loss,
    load_lpips,
    vae_reconstruction_loss,
)
from vitascope.train.recipes import Recipe

log = logging.getLogger(__name__)

# A chart's pixels are all colour patches; weighted as fully as the world's objects, a batch's charts would
# outweigh its anchored clips several times over and move the latents the DiT was trained on.
CHART_WEIGHT = 0.3


class VAETask:
    kind = "vae"

    def __init__(
        self,
        recipe: Recipe,
        run_dir: Path,
        run_root: Path,
        rank: int = 0,
        world: int = 1,
        device: torch.device | None = None,
        data_workers: int = 0,
    ):
        self.recipe, self.run_dir, self.rank, self.world = recipe, Path(run_dir), rank, world
        self.device = torch.device("cpu") if device is None else torch.device(device)
        # Under several processes only rank 0 builds real weights; the others build on the meta device and
        # receive rank 0's init when the loop shards the model (loop._shard).
        self.on_meta = world > 1 and rank != 0
        self.model = self.new_model(meta=self.on_meta)
        init = recipe.vae_options.init_from
        if (
            init and not self.on_meta
        ):  # start from an earlier run's export (e.g. decoder fine-tuning on a frozen encoder)
            from vitascope.models.vae import load_vae

            start = load_vae(run_folder(init, run_root, "export", "vae"))
            self.model.load_state_dict(start.state_dict())
            opts = recipe.vae_options
            if opts.freeze_encoder or opts.anchor_weight > 0:
                # same (or anchored) latents: keep the scale the DiT was trained with
                self.scaling_factor = start.config.scaling_factor
            if opts.anchor_weight > 0:  # the frozen reference the encoder is pulled towards
                self.teacher = start.eval().requires_grad_(False)
        # Start the posterior narrow (std ~0.02): with the paper's tiny KL weight nothing pushes the default
        # logvar=0 down quickly, and unit-variance sampling noise would drown the latent for hundreds of steps.
        if not init and not self.on_meta:
            with torch.no_grad():
                self.model.quant_conv.bias[recipe.vae.latent_channels :] = recipe.vae_options.logvar_init
        if recipe.vae_options.freeze_encoder:
            # Decoder-only fine-tuning: latents a DiT was trained on stay valid (only decoding improves).
            self.model.encoder.requires_grad_(False)
            self.model.quant_conv.requires_grad_(False)
        self.extra_modules: dict = {}
        self.extra_optimizers: dict = {}
        if recipe.adv_weight > 0:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(recipe.seed + 1)
                disc = PatchDiscriminator()
            self.extra_modules["discriminator"] = disc
            self.extra_optimizers["discriminator"] = torch.optim.AdamW(
                disc.parameters(), lr=recipe.lr, betas=(0.5, 0.9), foreach=False
            )
        self.lpips = load_lpips() if recipe.lpips_weight > 0 else None
        if not self.on_meta:
            self.model.to(self.device)
        for mod in self.extra_modules.values():
            mod.to(self.device)
        if self.lpips is not None:
            self.lpips.to(self.device)
        # A GPU step outruns rendering: clips of the next steps can be rendered ahead in worker processes.
        self.prefetch = ClipPrefetcher(self, data_workers) if data_workers > 0 else None

    def prepare(self, steps_to_run: int | None = None) -> None:
        pass

    def clip_args(self, step: int, micro: int, g: int, b: Bucket) -> tuple:
        seed = sample_seed(self.recipe.seed, step, micro, g) % (2**31)
        r = self.recipe
        scene = r.vae_options.scene_frames
        return (seed, b.frames, b.height, b.width, r.frame_interval, r.simple_fraction, scene)

    def figure_seed(self, step: int, micro: int, g: int) -> int | None:
        """The figure-clip seed of this sample, or None for a shapes-world clip (vae_options.figure_fraction)."""
        share = self.recipe.vae_options.figure_fraction
        rng = np.random.default_rng([self.recipe.seed, step, micro, 5, g])
        if share <= 0 or rng.random() >= share:
            return None
        from vitascope.synthetic.figures.clips import TRAIN, split_seed

        return split_seed(int(rng.integers(2**30)), TRAIN)

    def is_chart(self, step: int, micro: int, g: int) -> bool:
        """Whether this sample is a colour chart (vae_options.chart_fraction) instead of a world clip."""
        share = self.recipe.vae_options.chart_fraction
        return share > 0 and np.random.default_rng([self.recipe.seed, step, micro, 9, g]).random() < share

    def anchored(self, step: int, micro: int, g: int) -> bool:
        """Whether the sample shows the world in its own palette, where the encoder is anchored."""
        return not self.is_chart(step, micro, g) and self.hue_rng(step, micro, g) is None

    def hue_rng(self, step: int, micro: int, g: int) -> np.random.Generator | None:
        """The generator of this sample's recolouring, or None when it keeps the world's palette
        (vae_options.hue_fraction)."""
        share = self.recipe.vae_options.hue_fraction
        rng = np.random.default_rng([self.recipe.seed, step, micro, 7, g])
        return rng if share > 0 and rng.random() < share else None

    def clip(self, step: int, micro: int, g: int, b: Bucket) -> torch.Tensor:
        if self.is_chart(step, micro, g):
            from vitascope.synthetic.colour_chart import chart_clip

            seed = sample_seed(self.recipe.seed, step, micro, 9, g) % (2**31)
            return to_model_range(chart_clip(seed, b.frames, b.height, b.width))
        frames = self._frames(step, micro, g, b)  # uint8 [F, H, W, 3]
        rng = self.hue_rng(step, micro, g)
        if rng is not None:
            from vitascope.synthetic.recolour import random_recolour

            frames = random_recolour(frames, rng)
        return to_model_range(frames)

    def _frames(self, step: int, micro: int, g: int, b: Bucket) -> np.ndarray:
        fig = self.figure_seed(step, micro, g)
        if fig is not None:
            from vitascope.synthetic.figures.clips import figure_clip

            return figure_clip(fig, b.frames, (b.height, b.width)).frames
        if self.recipe.vae_options.world == "faces":
            return self._face_clip(step, micro, g, b)[0]
        if self.prefetch is not None:
            return self.prefetch.get(step, micro, g, b)
        return vae_clip_frames(*self.clip_args(step, micro, g, b))

    def _face_clip(self, step: int, micro: int, g: int, b: Bucket):
        """(frames, mouth weight) of a talking-world clip (no frame interval: mouths move every frame)."""
        from vitascope.train.avatar_data import vae_face_clip

        key = (step, micro, g, b.key)
        cache = self.__dict__.setdefault("_faces", {})
        if key not in cache:  # clip and weight are asked for separately: render once
            cache.clear()
            seed = sample_seed(self.recipe.seed, step, micro, g) % (2**31)
            cache[key] = vae_face_clip(seed, b.frames, b.height, b.width, self.recipe.vae_options.fg_weight)
        return cache[key]

    def close(self) -> None:
        if self.prefetch is not None:
            self.prefetch.close()

    def micro_loss(self, step: int, micro: int, bucket: Bucket, indices: range) -> tuple[torch.Tensor, dict]:
        r = self.recipe
        video = torch.stack([self.clip(step, micro, g, bucket) for g in indices])  # [B, 3, F, H, W]
        shape = (r.vae.latent_channels, *r.vae.latent_shape(bucket.frames, bucket.height, bucket.width))
        noise = torch.stack(
            [
                torch.randn(
                    shape, generator=torch.Generator().manual_seed(sample_seed(r.seed, step, micro, 3, g))
                )
                for g in indices
            ]
        )
        if not r.vae_options.sample_posterior:
            noise = torch.zeros_like(noise)  # decode the posterior mean (see demo_vae)
        weight = None
        if r.vae_options.world == "faces" and r.vae_options.fg_weight:
            weight = torch.stack([self._face_clip(step, micro, g, bucket)[1] for g in indices])
            weight = weight.to(self.device)  # [B, 1, F, H, W]
        elif r.vae_options.fg_weight:
            weight = torch.stack(
                [self.clip_weight(step, micro, g, bucket, r.vae_options.fg_weight) for g in indices]
            ).to(self.device)  # [B, 1, F, H, W]
        video, noise = video.to(self.device), noise.to(self.device)
        anchor = None
        if r.vae_options.anchor_weight > 0:
            # recoloured clips are free to move: the reference encoder collapses their hues
            keep = [self.anchored(step, micro, g) for g in indices]
            w = torch.tensor([r.vae_options.anchor_weight * k for k in keep], device=self.device)
            with torch.no_grad():
                target = self.teacher.to(self.device).encode_moments(video)[0]
            anchor = (target, w)
        loss, recon, parts = vae_reconstruction_loss(
            self.model,
            video,
            r.kl_weight,
            noise,
            self.lpips,
            r.lpips_weight,
            r.vae_options.mse_weight,
            r.vae_options.l1_weight,
            weight,
            anchor,
        )
        total = loss.mean()
        disc = self.extra_modules.get("discriminator")
        if disc is not None and step >= r.adv_start:
            # Generator term: D frozen so only the VAE gets these gradients.
            disc.requires_grad_(False)
            g_adv = generator_adv_loss(disc(recon))
            disc.requires_grad_(True)
            d_loss = hinge_d_loss(disc(video), disc(recon.detach()))
            total = total + r.adv_weight * g_adv + d_loss
            parts.update(adv=g_adv.detach(), d_loss=d_loss.detach())
        psnr = -10 * torch.log10(((recon.detach().clamp(-1, 1) - video) ** 2).mean() / 4.0)
        return total, {k: float(v) for k, v in parts.items()} | {"psnr": float(psnr)}

    def clip_weight(self, step: int, micro: int, g: int, b: Bucket, fg_weight: float) -> torch.Tensor:
        """Per-pixel loss weight [1, F, H, W] of `clip(...)`: 1 + fg_weight on the objects (or the figure);
        a colour chart is all patches, weighted 1 + CHART_WEIGHT * fg_weight."""
        if self.is_chart(step, micro, g):
            return torch.full((1, b.frames, b.height, b.width), 1.0 + CHART_WEIGHT * fg_weight)
        fig = self.figure_seed(step, micro, g)
        if fig is None:
            return vae_clip_weight(self.clip_args(step, micro, g, b), fg_weight)
        from vitascope.synthetic.figures.clips import figure_clip

        fg = figure_clip(fig, b.frames, (b.height, b.width)).foreground()  # [F, H, W]
        return torch.from_numpy(1.0 + fg_weight * fg.astype(np.float32))[None]

    def new_model(self, meta: bool = False) -> CausalVAE3D:
        """The recipe's VAE at its seeded init; the global RNG is left untouched. meta: shapes only."""
        if meta:
            with torch.device("meta"):
                return CausalVAE3D(self.recipe.vae)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.recipe.seed)
            return CausalVAE3D(self.recipe.vae)

    def preview(self, step: int, model: torch.nn.Module) -> list[Path]:
        return []

    @torch.no_grad()
    def measure(self, model: CausalVAE3D, n: int = 16) -> dict:
        """Latent std (for the scaling factor) and first-frame PSNR on held-out world clips (index >= 10**6)."""
        from vitascope.data.synthetic import vae_clip
        from vitascope.train.evaluate import psnr

        frames = max(b.frames for s in self.recipe.stages for b in s.buckets)
        b = self.recipe.stages[-1].buckets[0]
        lats, ps = [], []
        for i in range(n):
            if self.recipe.vae_options.world == "faces":
                from vitascope.train.avatar_data import face_clip

                x = to_model_range(face_clip(10**6 + i, max(frames, 5), b.height, b.width).frames)[None]
            else:
                x = vae_clip(10**6 + i, max(frames, 5), b.height, b.width, (1, 1), float(i % 2 == 0))[None]
            dev = next(model.parameters()).device
            z = model.encode(x.to(dev))
            lats.append(z.flatten().cpu())
            y = model.decode(z).cpu()
            to8 = lambda v: ((v[0, :, 0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()  # noqa: E731
            ps.append(psnr(to8(y), to8(x)))
        return {
            "latent_std": float(torch.cat(lats).std()),
            "psnr_first_frame": float(np.mean(ps)),
            "psnr_min": float(np.min(ps)),
        }

    def export(self, folder: Path, model: CausalVAE3D) -> Path:
        """vae/ with config.json + model.safetensors; the scaling factor is 1 / std of held-out latents."""
        stats = self.measure(model)
        # A frozen encoder keeps the scaling factor its DiT was trained with.
        scale = getattr(self, "scaling_factor", None) or round(1.0 / stats["latent_std"], 6)
        cfg = dataclasses.replace(model.config, scaling_factor=scale)
        out = CausalVAE3D(cfg)
        out.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
        log.info("VAE export: %s", stats)
        if self.rank == 0:
            save_vae(out, Path(folder) / "vae")
        return Path(folder) / "vae"


class ClipPrefetcher:
    """Renders the clips of the coming steps in worker processes. Each clip is the same pure function of
    (recipe seed, step, micro-batch, sample) as without it, so the samples, and resumes, are unchanged."""

    AHEAD = 8  # steps rendered ahead

    def __init__(self, task: VAETask, workers: int):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.task = task
        # spawn, not fork: the parent holds a CUDA context
        self.pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
        self.futures: dict[tuple[int, int, int], object] = {}
        self.submitted_to = 0  # steps below this one have been submitted (or were never needed)

    def _submit(self, step: int) -> None:
        r = self.task.recipe
        _, stage = r.stage_at(step)
        for micro in range(r.grad_accum):
            b = pick_bucket(stage.buckets, np.random.default_rng([r.seed, step, micro, 0]))
            for g in split_batch(b.batch_size, self.task.world, self.task.rank):
                if self.task.is_chart(step, micro, g):  # drawn in clip(), never asked for here
                    continue
                args = self.task.clip_args(step, micro, g, b)
                self.futures[(step, micro, g)] = self.pool.submit(vae_clip_frames, *args)

    def get(self, step: int, micro: int, g: int, b: Bucket) -> np.ndarray:
        ahead = min(step + self.AHEAD, self.task.recipe.total_steps)
        for s in range(max(self.submitted_to, step), ahead):
            self._submit(s)
        self.submitted_to = max(self.submitted_to, ahead)
        fut = self.futures.pop((step, micro, g), None)
        if fut is None:  # a bucket this process did not foresee: render it here
            return vae_clip_frames(*self.task.clip_args(step, micro, g, b))
        return fut.result()

    def close(self) -> None:
        for fut in self.futures.values():
            fut.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)
