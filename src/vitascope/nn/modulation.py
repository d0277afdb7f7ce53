"""adaLN modulation: SiLU(vec) -> Linear -> chunks of (shift, scale, gate)."""

from __future__ import annotations

import torch
from torch import nn


class ModulateDiT(nn.Module):
    """SiLU -> Linear(D -> factor*D); key `linear`. Zero-initialised so a fresh block is the identity."""

    def __init__(self, hidden: int, factor: int):
        super().__init__()
        self.factor = factor
        self.act = nn.SiLU()
        self.linear = nn.Linear(hidden, factor * hidden)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, vec: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.linear(self.act(vec)).chunk(self.factor, dim=-1)  # factor x [B, D]


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x [B, L, D] * (1 + scale) + shift, with [B, D] parameters."""
    return x * (1 + scale[:, None]) + shift[:, None]


def gate(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Raw (un-tanh'd) gate, as in the official code."""
    return x * g[:, None]


def split_modulate(x, first: int, mods: tuple, tr_mods: tuple | None):
    """Modulate the first `first` tokens with the token-replace chunks and the rest with the normal ones.

    mods / tr_mods are (shift, scale); with tr_mods None every token uses mods.
    """
    if tr_mods is None:
        return modulate(x, *mods)
    return torch.cat([modulate(x[:, :first], *tr_mods), modulate(x[:, first:], *mods)], dim=1)


def split_gate(x, first: int, g, tr_g):
    if tr_g is None:
        return gate(x, g)
    return torch.cat([gate(x[:, :first], tr_g), gate(x[:, first:], g)], dim=1)
