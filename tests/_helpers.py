"""Test helpers shared across the suite (not a test module)."""

from __future__ import annotations

import math

import torch


@torch.no_grad()
def reseed_parameters(module: torch.nn.Module, seed: int = 0) -> None:
    """Redraw every parameter from one seeded generator in sorted-name order.

    Norm weights ~ 1 + 0.1 N, biases ~ 0.05 N, matrices ~ N / sqrt(fan_in). Independent of any library's
    own init order, and makes zero-initialised modulation weights non-trivial so mapping mistakes show up.
    """
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(module.state_dict(keep_vars=True).items()):
        if not p.is_floating_point():
            continue
        noise = torch.randn(p.shape, generator=g, dtype=torch.float64)
        if p.ndim == 1 and ("norm" in name or name.endswith(".scale")) and name.endswith("weight"):
            val = 1 + 0.1 * noise
        elif p.ndim == 1:
            val = 0.05 * noise
        else:
            fan_in = max(1, math.prod(p.shape[1:]))
            val = noise / math.sqrt(fan_in)
        p.copy_(val.to(p.dtype))
