"""The one sampler: a `predict` callable, a guidance policy, and the Euler loop between them.

    predict(x, t, branch, step) -> velocity      one model call for one conditioning branch
    policy(step) -> StepGuidance                  per-step scale, and which branches to combine
    denoise(latents, sigmas, predict, policy)     the loop (float32 state, fp32 Euler as the reference)

Everything that changes how a velocity is obtained wraps `predict` and returns another one: I2V input builders
(`models.dit.sampling.dit_predict`), context windows over the latent timeline, step caches, CFG in parallel.
Everything that changes how branches are mixed is a policy: constant true CFG, the avatar's two regimes.
Training previews, `vitascope eval` and every pipeline use this loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from vitascope.errors import CancelledError
from vitascope.flow.guidance import cfg_combine
from vitascope.flow.solvers import euler_step


@dataclass(frozen=True)
class StepInfo:
    index: int  # 0-based step
    total: int
    sigma: float
    sigma_next: float
    window: tuple[int, ...] | None = None  # latent frames of the current context window (set by windows)


@dataclass(frozen=True)
class StepGuidance:
    """v = v[uncond] + scale * (v[cond] - v[uncond]); with scale 1 or no uncond branch, v = v[cond]."""

    scale: float = 1.0
    uncond: str | None = None
    cond: str = "cond"

    @property
    def branches(self) -> tuple[str, ...]:
        return (self.cond, self.uncond) if self.uses_uncond else (self.cond,)

    @property
    def uses_uncond(self) -> bool:
        return self.uncond is not None and self.scale != 1.0


Predict = Callable[[torch.Tensor, torch.Tensor, str, StepInfo], torch.Tensor]
GuidancePolicy = Callable[[StepInfo], StepGuidance]


def constant_guidance(scale: float, uncond: str | None = "negative") -> GuidancePolicy:
    """True CFG at one scale for every step (the T2V/I2V reference); scale <= 1 means the cond branch only."""
    g = StepGuidance(scale, uncond if scale > 1.0 else None)
    return lambda step: g


def denoise(
    latents: torch.Tensor,
    sigmas: torch.Tensor,
    predict: Predict,
    policy: GuidancePolicy,
    *,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """latents [B, C, T, H, W] float32 noise at sigmas[0] -> float32 latents at sigmas[-1]."""
    steps = len(sigmas) - 1
    sig = [float(s) for s in sigmas.cpu()]  # host copies: no device sync inside the loop
    sigmas = sigmas.to(latents.device)
    B = latents.shape[0]
    for i in range(steps):
        if should_stop is not None and should_stop():
            raise CancelledError(f"cancelled before step {i + 1} of {steps}")
        step = StepInfo(i, steps, sig[i], sig[i + 1])
        g = policy(step)
        t = (sigmas[i] * 1000.0).expand(B).to(latents.dtype)
        v = predict(latents, t, g.cond, step)
        if g.uses_uncond:
            v = cfg_combine(v, predict(latents, t, g.uncond, step), g.scale)
        latents = euler_step(latents, v, sigmas[i], sigmas[i + 1]).float()
        if progress is not None:
            progress(i + 1, steps)
    return latents
