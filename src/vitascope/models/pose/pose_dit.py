"""A pose-conditioned HunyuanVideo DiT: the driving pose video, drawn as skeleton frames and VAE-encoded, is
added to the video tokens through a zero-initialised patch embedding.

This is the design Wan-Animate (`pose_patch_embedding` on VAE latents of the skeleton video), UniAnimate
(pose tokens added to the patch embedding) and the Avatar release (`ref_in` + `before_proj`) share:

    img = img_in(x) + pose_proj(pose_in(pose_latents))        # [B, L, D], no extra tokens

`pose_in` is a PatchEmbed with the DiT's patch size over the VAE's latent channels; `pose_proj` is a Linear
initialised to zero, so a fresh PoseDiT built from base weights is exactly the base model until it is trained.
The pose latents enter as `DiTInputs.extra["pose_latents"]` [B, C, T, h, w] on the same latent grid as x;
without them the variant is the base model.

Checkpoints: the two modules add `pose_in.proj.{weight,bias}` and `pose_proj.{weight,bias}` to the base keys;
the DiT variant registry (`models.dit.variants`, name "pose") recognises them, so the loader builds a PoseDiT
and its keys load strictly (`dit_class_for_state` says the same for a state dict in hand).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vitascope.errors import WeightLoadError
from vitascope.models.dit.config import DiTConfig
from vitascope.models.dit.context import Context
from vitascope.models.dit.model import HunyuanVideoDiT
from vitascope.nn.embeddings import PatchEmbed

POSE_KEYS = ("pose_in.proj.weight", "pose_in.proj.bias", "pose_proj.weight", "pose_proj.bias")


class PoseDiT(HunyuanVideoDiT):
    def __init__(self, config: DiTConfig):
        super().__init__(config)
        D = config.hidden_size
        self.pose_in = PatchEmbed(config.patch_size, config.out_channels, D)  # latent channels, not 33
        self.pose_proj = nn.Linear(D, D)
        nn.init.zeros_(self.pose_proj.weight)
        nn.init.zeros_(self.pose_proj.bias)

    @classmethod
    def from_base(cls, base: HunyuanVideoDiT) -> PoseDiT:
        """A PoseDiT carrying `base`'s weights, its pose modules freshly initialised (pose_proj = 0)."""
        model = cls(base.config).to(
            device=next(base.parameters()).device, dtype=next(base.parameters()).dtype
        )
        missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)
        if unexpected or set(missing) != set(POSE_KEYS):
            raise ValueError(f"base weights do not fit: missing {missing}, unexpected {unexpected}")
        return model

    def embed_tokens(self, ctx: Context) -> None:
        pose = ctx.inputs.extra.get("pose_latents")
        if pose is None:
            return
        tokens = self.pose_proj(self.pose_in(pose.to(ctx.img)))  # [B, L, D]
        if tokens.shape[1] != ctx.img.shape[1] - ctx.n_prefix:
            raise ValueError(
                f"pose latents give {tokens.shape[1]} tokens for {ctx.img.shape[1] - ctx.n_prefix} video tokens:"
                " encode the skeleton video at the video's size and length"
            )
        ctx.img = torch.cat([ctx.img[:, : ctx.n_prefix], ctx.img[:, ctx.n_prefix :] + tokens], dim=1)


def is_pose_state(state: dict) -> bool:
    """Whether a DiT state dict carries the pose modules (all of them, or it is not a PoseDiT checkpoint)."""
    present = [k in state for k in POSE_KEYS]
    if any(present) and not all(present):
        missing = [k for k, p in zip(POSE_KEYS, present, strict=True) if not p]
        raise WeightLoadError(f"a pose DiT checkpoint needs all of {POSE_KEYS}; missing {missing}")
    return all(present)


def dit_class_for_state(state: dict) -> type[HunyuanVideoDiT]:
    """The DiT class whose keys are exactly these: PoseDiT when the pose modules are present."""
    return PoseDiT if is_pose_state(state) else HunyuanVideoDiT


def build_pose_dit(config: DiTConfig, shapes) -> PoseDiT:
    """The variant registry's builder (`models.dit.variants`, name "pose"): all four pose keys, or an error."""
    is_pose_state(shapes)
    return PoseDiT(config)


@torch.no_grad()
def encode_pose_video(vae, skeleton: np.ndarray) -> torch.Tensor:
    """Skeleton frames uint8 [F, H, W, 3] (F = 4k + 1, e.g. from `synthetic.figures.draw_skeleton`) -> the
    scaled posterior mode [1, C, (F - 1) / 4 + 1, H / 8, W / 8], as videos are encoded for training."""
    if skeleton.ndim != 4 or skeleton.shape[-1] != 3:
        raise ValueError(f"skeleton frames must be [F, H, W, 3], got {skeleton.shape}")
    p = next(vae.parameters())
    x = torch.from_numpy(np.ascontiguousarray(skeleton)).to(p.device).permute(3, 0, 1, 2)[None]  # [1,3,F,H,W]
    x = x.to(p.dtype) / 127.5 - 1.0
    return vae.encode(x).float() * vae.config.scaling_factor
