"""Exponential moving average of the trained weights; the EMA copy is what gets exported."""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    """Shadow copy of the floating-point parameters, kept in float32.

    decay is warmed up as min(decay, (1 + n) / (10 + n)) so early averages are not dominated by the random
    init. Works on plain and on FSDP-sharded models (it averages whatever local tensors the model holds).
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.shadow = {k: _local(p).detach().float().clone() for k, p in model.named_parameters()}

    def effective_decay(self) -> float:
        n = self.updates
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.effective_decay()
        pairs = [(self.shadow[k], _local(p).detach().float()) for k, p in model.named_parameters()]
        if pairs and pairs[0][0].device.type == "cuda":  # one fused launch instead of one per tensor
            torch._foreach_lerp_([s for s, _ in pairs], [p for _, p in pairs], 1.0 - d)
        else:
            for s, p in pairs:
                s.lerp_(p, 1.0 - d)
        self.updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Write the averaged weights into `model` (same structure as the one tracked)."""
        for k, p in model.named_parameters():
            _local(p).copy_(self.shadow[k].to(p.dtype))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int) -> None:
        missing = set(self.shadow) - set(state)
        if missing:
            raise KeyError(f"EMA state lacks {sorted(missing)[:5]}")
        for k in self.shadow:
            self.shadow[k].copy_(state[k])
        self.updates = updates


def _local(p: torch.Tensor) -> torch.Tensor:
    """The rank-local tensor of a (possibly FSDP2-sharded) parameter."""
    return p.to_local() if hasattr(p, "to_local") else p
