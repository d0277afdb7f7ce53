"""3D rotary position embedding as HunyuanVideo uses it.

Interleaved pairs (x[2i], x[2i+1]) rotate as one complex number; this is not the NeoX half-split layout, and
mixing them up loads the official weights without error but gives wrong videos. Only image tokens get RoPE.
"""

from __future__ import annotations

import math

import torch


def rope_cos_sin(
    grid: tuple[int, int, int],
    dims: tuple[int, int, int],
    theta: float = 256.0,
    offsets: tuple[int, int, int] = (0, 0, 0),
    device: torch.device | str | None = None,
    time_freq: tuple[int, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables for a (T, H, W) token grid, flattened row-major: each [L, sum(dims)] in float32.

    `offsets` shifts the integer positions per axis (a frame offset for extending a video, -1 for a prepended
    reference frame). `time_freq=(k, w)` replaces the k-th temporal frequency by w (RIFLEx, `riflex_frequency`).
    """
    if sum(dims) % 2 or any(d % 2 for d in dims):
        raise ValueError(f"every RoPE axis dimension must be even, got {dims}")
    axes = [
        torch.arange(n, device=device, dtype=torch.float32) + off
        for n, off in zip(grid, offsets, strict=True)
    ]
    pos = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=0).reshape(3, -1)  # [3, L]
    cos, sin = [], []
    for i, d in enumerate(dims):
        freqs = 1.0 / theta ** (torch.arange(0, d, 2, device=device, dtype=torch.float32)[: d // 2] / d)
        if i == 0 and time_freq is not None:
            freqs[time_freq[0]] = time_freq[1]
        angles = torch.outer(pos[i], freqs)  # [L, d/2]
        cos.append(angles.cos().repeat_interleave(2, dim=1))
        sin.append(angles.sin().repeat_interleave(2, dim=1))
    return torch.cat(cos, dim=1), torch.cat(sin, dim=1)  # [L, K] each


def riflex_frequency(dim: int, theta: float, native: int, target: int) -> tuple[int, float]:
    """RIFLEx (Zhao et al., 2025): past the trained length a video repeats itself because one temporal RoPE
    component, the intrinsic one, completes a period. Find the component whose period is closest to the native
    latent length and slow it so that 0.9 of its period covers the target length. Returns (index, frequency).
    """
    freqs = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64)[: dim // 2] / dim)
    periods = 2 * math.pi / freqs
    k = int(torch.argmin((periods - native).abs()))
    return k, float(0.9 * 2 * math.pi / max(target, native))


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x [B, L, N, K] by the tables [L, K]; computed in float32 and cast back."""
    xf = x.float()
    x0, x1 = xf.unflatten(-1, (-1, 2)).unbind(-1)  # [B, L, N, K/2] each
    rotated = torch.stack((-x1, x0), dim=-1).flatten(-2)  # (a, b) -> (-b, a)
    out = xf * cos[None, :, None, :] + rotated * sin[None, :, None, :]
    return out.to(x.dtype)
