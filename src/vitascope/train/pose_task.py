"""The pose DiT task of the loop (`dit_options.variant = "pose"`): a `PoseDiT` trained on the figure world.

It is `DiTTask` with three differences:
- the model is a `PoseDiT`; `dit_options.init_from` (a run's export or a model folder's transformer) gives
  the base weights and the pose modules start fresh (`pose_proj` = 0, so step 0 is the base model);
- the data are figure clips (`synthetic.figures.clips`, training seeds only): the clip's latents, the VAE
  latents of its ground-truth skeleton frames, and a caption naming the motion. They are encoded once into
  a pool under `<run>/latents/` (keyed by the VAE weights);
- every sample is image-to-video (latent frame 0 clean, token replace: the reference image is the first
  frame) with the skeleton latents as `pose_latents`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from vitascope.data.synthetic import to_model_range
from vitascope.flow import sample_t
from vitascope.models.pose import POSE_KEYS, PoseDiT
from vitascope.train.buckets import Bucket
from vitascope.train.checkpoint import atomic_safetensors, atomic_text
from vitascope.train.dit_task import DiTTask, load_dit
from vitascope.train.loss import flow_matching_loss

log = logging.getLogger(__name__)


class PosePool:
    """Encoded figure clips of one bucket: latents and pose latents [N, C, T, h, w], and captions."""

    def __init__(self, latents: torch.Tensor, pose: torch.Tensor, captions: list[str]):
        self.latents, self.pose, self.captions = latents, pose, captions

    def __len__(self) -> int:
        return len(self.captions)


def build_pose_pool(root: Path, vae, bucket: Bucket, n: int, seed: int) -> PosePool:
    """Render `n` training figure clips of the bucket's shape, encode clip and skeleton (posterior mean x
    scaling factor); reuse a finished pool. Clip i has the training seed of index hash(seed, i)."""
    from safetensors.torch import load_file

    from vitascope.synthetic.figures.clips import TRAIN, figure_clip, split_seed
    from vitascope.train.logging import progress

    path = Path(root) / f"{bucket.key}.safetensors"
    if path.exists():
        t = load_file(str(path))
        return PosePool(t["latents"], t["pose"], json.loads(path.with_suffix(".json").read_text()))
    log.info("encoding %d figure clips for bucket %s", n, bucket.key)
    scale, dev = vae.config.scaling_factor, next(vae.parameters()).device
    lat, pose, captions = [], [], []
    bar = progress(total=n, desc=f"pose pool {bucket.key}", unit="clip")
    for start in range(0, n, 4):
        clips = [
            figure_clip(
                split_seed(int(np.random.default_rng([seed, 77, i]).integers(2**30)), TRAIN),
                bucket.frames,
                (bucket.height, bucket.width),
            )
            for i in range(start, min(n, start + 4))
        ]
        videos = [to_model_range(c.frames) for c in clips] + [to_model_range(c.skeleton) for c in clips]
        with torch.no_grad():
            z = vae.encode(torch.stack(videos).to(dev)).float().cpu() * scale  # [2k, C, T, h, w]
        lat.extend(z[: len(clips)])
        pose.extend(z[len(clips) :])
        captions.extend(c.caption for c in clips)
        bar.update(len(clips))
    bar.close()
    pool = PosePool(torch.stack(lat), torch.stack(pose), captions)
    atomic_text(path.with_suffix(".json"), json.dumps(captions))
    atomic_safetensors(path, {"latents": pool.latents, "pose": pool.pose})
    return pool


class PoseTask(DiTTask):
    def new_model(self, meta: bool = False) -> PoseDiT:
        if meta:
            with torch.device("meta"):
                return PoseDiT(self.dit_config)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.recipe.seed)
            return PoseDiT(self.dit_config)

    def load_init(self, folder: Path) -> None:
        """The base DiT's weights (a plain or a pose checkpoint); pose modules a plain one lacks stay fresh."""
        state = load_dit(folder).state_dict()
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        if unexpected or not set(missing) <= set(POSE_KEYS):
            raise ValueError(
                f"{folder} does not fit the pose DiT: missing {missing}, unexpected {unexpected}"
            )

    def _pool(self, bucket: Bucket) -> PosePool:
        if bucket.key not in self.pools:
            n = min(self.recipe.pool_size, getattr(self, "_pool_cap", self.recipe.pool_size))
            root = self.run_dir / "latents" / f"pose_{self._vae_hash()}_{n}"
            self.pools[bucket.key] = build_pose_pool(root, self.vae, bucket, n, self.recipe.seed)
        return self.pools[bucket.key]

    def micro_loss(self, step: int, micro: int, bucket: Bucket, indices: range) -> tuple[torch.Tensor, dict]:
        """Mean I2V flow-matching loss of this rank's samples, driven by their skeleton latents."""
        r = self.recipe
        pool = self._pool(bucket)
        x0s, poses, noises, ts, texts, guid = [], [], [], [], [], []
        for g in indices:
            rng = np.random.default_rng([r.seed, step, micro, 2, g])
            gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
            idx = int(rng.integers(len(pool)))
            x0s.append(pool.latents[idx])
            poses.append(pool.pose[idx])
            texts.append("" if rng.random() < r.text_dropout else pool.captions[idx])
            noises.append(torch.randn(pool.latents[idx].shape, generator=gen))
            ts.append(sample_t(1, r.t_sampler, shift=r.t_shift, generator=gen))
            guid.append(float(rng.uniform(*r.guidance_range)) * 1000.0)
        x0, pose, noise, t = torch.stack(x0s), torch.stack(poses), torch.stack(noises), torch.cat(ts)
        states, mask, pooled = self._text_batch(texts)
        x0, pose, noise, t, states, mask, pooled = (
            v.to(self.device) for v in (x0, pose, noise, t, states, mask, pooled)
        )
        guidance = torch.tensor(guid, device=self.device) if self.dit_config.guidance_embed else None
        loss = flow_matching_loss(
            self.model,
            x0,
            noise,
            t,
            states,
            mask,
            pooled,
            guidance,
            first_frame_clean=True,
            pose_latents=pose,
        )
        return loss.mean(), {"i2v": 1.0, "t_mean": float(t.mean())}

    def preview(self, step: int, model: torch.nn.Module) -> list[Path]:
        return []  # `vitascope eval --task pose` measures a pose model
