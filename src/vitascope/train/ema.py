"""Exponential moving average of the trained weights; the EMA copy is what gets exported."""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    """Shadow copy of the floating-point parameters, kept in float32 and sharded like them.

    decay is warmed up as min(decay, (1 + n) / (10 + n)) so early averages are not dominated by the random
    init. On an FSDP2-sharded model each shadow tensor is a DTensor with its parameter's placement: the
    average runs on the local shards, checkpoints save it sharded (DCP), and `full_state` gathers it.
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.shadow = {k: p.detach().float().clone() for k, p in model.named_parameters()}

    def effective_decay(self) -> float:
        n = self.updates
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.effective_decay()
        pairs = [(_local(self.shadow[k]), _local(p).detach().float()) for k, p in model.named_parameters()]
        if pairs and pairs[0][0].device.type == "cuda":  # one fused launch instead of one per tensor
            torch._foreach_lerp_([s for s, _ in pairs], [p for _, p in pairs], 1.0 - d)
        else:
            for s, p in pairs:
                s.lerp_(p, 1.0 - d)
        self.updates += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The shadow tensors themselves (DCP loads into them in place)."""
        return dict(self.shadow)

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int) -> None:
        missing = set(self.shadow) - set(state)
        if missing:
            raise KeyError(f"EMA state lacks {sorted(missing)[:5]}")
        for k, s in self.shadow.items():
            if state[k] is not s:
                _local(s).copy_(_local(state[k]))
        self.updates = updates

    @torch.no_grad()
    def full_state(self) -> dict[str, torch.Tensor]:
        """Whole (gathered) CPU tensors of every shadow. Collective under FSDP: every rank must call it."""
        return {k: _full(s).cpu() for k, s in self.shadow.items()}


def _local(p: torch.Tensor) -> torch.Tensor:
    """The rank-local tensor of a (possibly FSDP2-sharded) parameter."""
    return p.to_local() if hasattr(p, "to_local") else p


def _full(p: torch.Tensor) -> torch.Tensor:
    return p.full_tensor() if hasattr(p, "full_tensor") else p.detach().clone()
