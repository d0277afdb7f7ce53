"""Normalisation layers."""

from __future__ import annotations

import torch
from torch import nn


class RMSNorm(nn.Module):
    """RMSNorm over the last axis with a learnable weight (the QK norm of the DiT, eps 1e-6).

    Normalises in float32 and casts back before the weight, as the official code does.
    """

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.to(x.dtype) * self.weight


def layer_norm(dim: int, affine: bool = False) -> nn.LayerNorm:
    """The DiT's LayerNorm: eps 1e-6, no affine except in the token refiner."""
    return nn.LayerNorm(dim, elementwise_affine=affine, eps=1e-6)
