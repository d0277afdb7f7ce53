"""ODE solvers for the flow. The update is done in float32 whatever the model's dtype, as the reference does."""

from __future__ import annotations

import torch


def euler_step(
    x: torch.Tensor, velocity: torch.Tensor, sigma: float | torch.Tensor, sigma_next
) -> torch.Tensor:
    """x_{next} = x + (sigma_next - sigma) * v, in float32, returned in the velocity's dtype."""
    out = x.float() + (sigma_next - sigma) * velocity.float()
    return out.to(velocity.dtype)
