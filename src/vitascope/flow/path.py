"""The training side of the flow, defined next to the sampler so both agree on sign and scale.

x_t = (1 - t) * x0 + t * eps; the model predicts the velocity eps - x0 (so Euler from t=1 to 0 recovers x0).
"""

from __future__ import annotations

import torch

from vitascope.flow.schedule import shift_sigmas

SAMPLERS = ("uniform", "logit_normal")


def interpolate(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t for t [B] in [0, 1]; x0, noise [B, ...]."""
    tt = t.view(-1, *([1] * (x0.ndim - 1))).to(x0.dtype)
    return (1 - tt) * x0 + tt * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return noise - x0


def sample_t(
    batch: int,
    kind: str = "logit_normal",
    shift: float = 1.0,
    mean: float = 0.0,
    std: float = 1.0,
    generator: torch.Generator | None = None,
    device=None,
) -> torch.Tensor:
    """Training timesteps [B] in (0, 1): uniform or logit-normal (t = sigmoid(N(mean, std))), then shifted."""
    if kind == "uniform":
        t = torch.rand(batch, generator=generator)
    elif kind == "logit_normal":
        t = torch.sigmoid(mean + std * torch.randn(batch, generator=generator))
    else:
        raise ValueError(f"timestep sampler must be one of {SAMPLERS}, got {kind!r}")
    return shift_sigmas(t, shift).to(device)
