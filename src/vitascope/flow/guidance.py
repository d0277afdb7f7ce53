"""Guidance: true classifier-free guidance and the embedded (distilled) guidance value."""

from __future__ import annotations

import torch


def cfg_combine(cond: torch.Tensor, uncond: torch.Tensor, scale: float, rescale: float = 0.0) -> torch.Tensor:
    """uncond + scale * (cond - uncond), optionally rescaled toward the conditional std (rescale in [0, 1])."""
    out = uncond + scale * (cond - uncond)
    if rescale > 0:
        dims = tuple(range(1, cond.ndim))
        ratio = cond.std(dim=dims, keepdim=True) / out.std(dim=dims, keepdim=True)
        out = rescale * (out * ratio) + (1 - rescale) * out
    return out


def embedded_guidance(scale: float, batch: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The guidance input of a cfg-distilled DiT: [B] of scale * 1000 (6.0 -> 6000)."""
    return torch.full((batch,), float(scale), dtype=dtype, device=device) * 1000.0
