"""The denoising loop shared by text-to-video and image-to-video.

The I2V variants are inputs here, not separate loops: `image_latents` with mode "token_replace" pins latent
frame 0 to the clean image and steps only frames 1..T-1; mode "latent_concat" feeds [noisy, image, mask]
channels to a 33-channel DiT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from vitascope.errors import CancelledError
from vitascope.flow import cfg_combine, embedded_guidance, euler_step, shifted_sigmas


@dataclass
class TextCondition:
    states: torch.Tensor  # [B, S, D_txt]
    mask: torch.Tensor  # [B, S]
    pooled: torch.Tensor  # [B, D_txt2]


def denoise(
    dit,
    latents: torch.Tensor,
    cond: TextCondition,
    uncond: TextCondition | None,
    *,
    steps: int,
    dtype: torch.dtype,
    shift: float,
    guidance: float,
    cfg_scale: float,
    image_latents: torch.Tensor | None = None,
    mode: str | None = None,
    token_replace: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """latents [B, C, T, H, W] float32 noise -> denoised latents (float32); the DiT runs in `dtype`."""
    B = latents.shape[0]
    sigmas = shifted_sigmas(steps, shift).to(latents.device)
    g = (
        embedded_guidance(guidance, B, dtype=dtype, device=latents.device)
        if dit.config.guidance_embed
        else None
    )
    mask_ch = None
    if mode == "latent_concat":
        mask_ch = torch.zeros_like(image_latents[:, :1])  # [B, 1, T, H, W]: 1 at the conditioned frame
        mask_ch[:, :, 0] = 1
    for i in range(steps):
        if should_stop is not None and should_stop():
            raise CancelledError(f"cancelled before step {i + 1} of {steps}")
        t = (sigmas[i] * 1000.0).expand(B).to(latents.dtype)
        if mode == "latent_concat":
            x_in = torch.cat([latents, image_latents, mask_ch], dim=1)
        elif mode == "token_replace":
            x_in = torch.cat([image_latents[:, :, :1], latents[:, :, 1:]], dim=2)
        else:
            x_in = latents
        v = _velocity(dit, x_in.to(dtype), t, cond, uncond, g, cfg_scale, token_replace)
        if mode == "token_replace":  # frame 0 is the clean image: never stepped
            rest = euler_step(latents[:, :, 1:], v[:, :, 1:], sigmas[i], sigmas[i + 1]).float()
            latents = torch.cat([image_latents[:, :, :1].float(), rest], dim=2)
        else:
            latents = euler_step(latents, v, sigmas[i], sigmas[i + 1]).float()
        if progress is not None:
            progress(i + 1, steps)
    return latents


def _velocity(dit, x, t, cond, uncond, g, cfg_scale, token_replace):
    v = dit(x, t, cond.states, cond.mask, cond.pooled, g, token_replace=token_replace)
    if uncond is not None and cfg_scale > 1.0:
        v_neg = dit(x, t, uncond.states, uncond.mask, uncond.pooled, g, token_replace=token_replace)
        v = cfg_combine(v, v_neg, cfg_scale)
    return v
