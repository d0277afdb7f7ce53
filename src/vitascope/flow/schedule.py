"""Sigma schedules for rectified flow; sigma = 1 is pure noise, 0 is data ("flow reverse" in Tencent's flags)."""

from __future__ import annotations

import numpy as np
import torch


def shift_sigmas(sigmas: torch.Tensor | np.ndarray, shift: float):
    """sigma' = shift*sigma / (1 + (shift-1)*sigma): spends more steps at high noise for large videos."""
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def shifted_sigmas(steps: int, shift: float) -> torch.Tensor:
    """The sampling schedule: [steps + 1] float32 sigmas from 1 down to a final 0.

    Computed as diffusers' FlowMatchEulerDiscreteScheduler does when HunyuanVideo's pipeline passes
    linspace(1, 0, steps+1)[:-1] (float64 linspace, cast to float32, shifted in float32), so the timesteps
    match it bit for bit.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    base = np.linspace(1.0, 0.0, steps + 1)[:-1].astype(np.float32)
    sig = torch.from_numpy(shift_sigmas(base, shift).astype(np.float32))
    return torch.cat([sig, torch.zeros(1)])


def timesteps_from_sigmas(sigmas: torch.Tensor) -> torch.Tensor:
    """The DiT's timestep input for each step: sigma * 1000 (the final 0 is not a step)."""
    return sigmas[:-1] * 1000.0
