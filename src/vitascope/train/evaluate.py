"""Evaluation on the synthetic world: generate from held-out canonical prompts and seeds, measure with the
analyzer (colour, shape, motion), I2V first-frame PSNR against the input image, and temporal stability.

`generate_latents` is the small sampler the trainer uses for preview videos (shifted Euler + CFG from
`vitascope.flow`); `vitascope eval` measures through the user-facing pipeline when it is available.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from vitascope.flow import cfg_combine, euler_step, shifted_sigmas

log = logging.getLogger(__name__)


@torch.no_grad()
def generate_latents(
    model: torch.nn.Module,
    shape: tuple[int, int, int, int],
    text: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    empty_text: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None,
    steps: int,
    shift: float,
    cfg_scale: float,
    seed: int,
    first_latent: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sample scaled latents [1, C, T, H, W]. first_latent [1, C, 1, H, W]: I2V by token replace."""
    C, T, H, W = shape
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, C, T, H, W, generator=g)
    sigmas = shifted_sigmas(steps, shift)
    tr = first_latent is not None
    use_cfg = empty_text is not None and cfg_scale != 1.0
    for i in range(steps):
        if tr:
            x[:, :, :1] = first_latent
        t = torch.full((1,), float(sigmas[i]) * 1000.0)
        v = model(x, t, text[0], text[1], text[2], token_replace=tr)
        if use_cfg:
            vu = model(x, t, empty_text[0], empty_text[1], empty_text[2], token_replace=tr)
            v = cfg_combine(v, vu, cfg_scale)
        x = euler_step(x, v, sigmas[i], sigmas[i + 1])
    if tr:
        x[:, :, :1] = first_latent
    return x


@torch.no_grad()
def latents_to_frames(vae, latents: torch.Tensor) -> np.ndarray:
    """Scaled latents [1, C, T, H, W] -> uint8 frames [F, H, W, 3]."""
    video = vae.decode(latents / vae.config.scaling_factor)[0]  # [3, F, H, W]
    return ((video.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 3, 0).numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 images of the same shape."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def temporal_stability(frames: np.ndarray) -> float:
    """Mean absolute change of the background between consecutive frames, in grey levels (0 is perfectly
    stable). Background = pixels far from the object in every frame of a static-camera clip."""
    if len(frames) < 2:
        return 0.0
    x = frames.astype(np.float32)
    fg = (x.max(axis=-1) > 40).any(axis=0)  # anything ever bright: object path
    bg = ~fg
    if not bg.any():
        return 0.0
    diffs = np.abs(np.diff(x, axis=0))[:, bg]
    return float(diffs.mean())


@dataclass
class CaseResult:
    mode: str  # "t2v" | "i2v"
    prompt: str
    seed: int
    want: dict
    got: dict
    psnr: float | None
    stability: float

    def correct(self, field: str) -> bool:
        return self.got.get(field) == self.want[field]


def score_video(frames: np.ndarray, want: dict) -> dict:
    """What the analyzer sees in a generated clip: the largest object's colour, shape and motion."""
    from vitascope.synthetic.analyze import analyze

    a = analyze(frames, background=want.get("background"))
    if not a.objects:
        return {"colour": None, "shape": None, "motion": None}
    o = a.objects[0]
    return {"colour": o["colour"], "shape": o["shape"], "motion": o["motion"]}


def summarize(results: list[CaseResult]) -> dict:
    """Accuracy per field and mode, mean PSNR (I2V) and mean stability."""
    out: dict = {}
    for mode in ("t2v", "i2v"):
        rs = [r for r in results if r.mode == mode]
        if not rs:
            continue
        row = {f: float(np.mean([r.correct(f) for r in rs])) for f in ("colour", "shape", "motion")}
        row["n"] = len(rs)
        row["stability"] = float(np.mean([r.stability for r in rs]))
        if mode == "i2v":
            ps = [r.psnr for r in rs if r.psnr is not None]
            row["psnr_mean"] = float(np.mean(ps))
            row["psnr_min"] = float(np.min(ps))
        out[mode] = row
    return out
