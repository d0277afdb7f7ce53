"""Stage 3: technical quality (blur, exposure, contrast, colourfulness, noise, frozen frames) and black borders.

All measures run on analysis-size frames after the border crop, so letterbox bars do not count as dark,
flat or sharp-edged content.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vitascope.curate.config import QualityConfig
from vitascope.curate.split import laplacian_variance
from vitascope.curate.video import luma


def detect_borders(gray: np.ndarray, cfg: QualityConfig) -> tuple[float, float, float, float]:
    """Crop box (x0, y0, x1, y1) as fractions of the frame that removes flat black bars.

    gray: [N, H, W] luma of sampled frames. A row/column is border when it is dark and flat in every frame;
    bars must touch the frame edge and be at least min_border_fraction thick.
    """
    _, h, w = gray.shape

    def run(profile_max: np.ndarray, profile_std: np.ndarray) -> int:
        border = (profile_max < cfg.border_luma) & (profile_std < 6.0)
        return int(np.argmin(border)) if not border.all() else len(border)

    row_max, row_std = gray.mean(axis=2).max(axis=0), gray.std(axis=2).max(axis=0)  # [H]
    col_max, col_std = gray.mean(axis=1).max(axis=0), gray.std(axis=1).max(axis=0)  # [W]
    top, bottom = run(row_max, row_std), run(row_max[::-1], row_std[::-1])
    left, right = run(col_max, col_std), run(col_max[::-1], col_std[::-1])
    if top + bottom >= h or left + right >= w:  # an all-black picture: leave it to the exposure check
        return (0.0, 0.0, 1.0, 1.0)
    m = cfg.min_border_fraction
    top, bottom = (t if t >= m * h else 0 for t in (top, bottom))
    left, right = (t if t >= m * w else 0 for t in (left, right))
    return (left / w, top / h, 1 - right / w, 1 - bottom / h)


def crop_frames(frames: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Crop [..., H, W(, C)] frames (axis -3/-2 for colour) by a fractional box."""
    colour = frames.ndim == 4
    h, w = frames.shape[-3:-1] if colour else frames.shape[-2:]
    x0, y0 = int(round(box[0] * w)), int(round(box[1] * h))
    x1, y1 = max(x0 + 2, int(round(box[2] * w))), max(y0 + 2, int(round(box[3] * h)))
    return frames[..., y0:y1, x0:x1, :] if colour else frames[..., y0:y1, x0:x1]


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness of uint8 RGB frames."""
    f = rgb.astype(np.float32)
    rg = f[..., 0] - f[..., 1]
    yb = 0.5 * (f[..., 0] + f[..., 1]) - f[..., 2]
    return float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))


def noise_sigma(gray: np.ndarray) -> float:
    """Immerkaer (1996) fast noise estimate of one float32 luma image."""
    import cv2

    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    h, w = gray.shape
    conv = np.abs(cv2.filter2D(gray, cv2.CV_32F, kernel)[1:-1, 1:-1])
    return float(math.sqrt(math.pi / 2) * conv.sum() / (6 * (w - 2) * (h - 2)))


def frozen_fraction(gray_all: np.ndarray) -> float:
    """Fraction of consecutive frame pairs that are (nearly) identical: repeated or stuck frames."""
    if len(gray_all) < 2:
        return 0.0
    diffs = np.abs(np.diff(gray_all, axis=0)).mean(axis=(1, 2))  # [F-1]
    return float((diffs < 0.5).mean())


def measure_quality(rgb: np.ndarray, gray_all: np.ndarray, cfg: QualityConfig) -> dict[str, Any]:
    """Quality metrics of sampled (cropped) frames rgb [N, H, W, 3] and all (cropped) luma frames gray_all."""
    gray = luma(rgb)
    return {
        "sharpness": float(np.mean([laplacian_variance(g) for g in gray])),
        "brightness": float(gray.mean()),
        "dark_fraction": float((gray < 16).mean()),
        "bright_fraction": float((gray > 240).mean()),
        "contrast": float(np.mean([g.std() for g in gray])),
        "colourfulness": colourfulness(rgb),
        "noise": float(np.median([noise_sigma(g) for g in gray])),
        "frozen_fraction": frozen_fraction(gray_all),
    }


def quality_rejects(q: dict[str, Any], cfg: QualityConfig) -> list[str]:
    reasons = []
    if q["brightness"] < cfg.max_dark_luma:
        reasons.append("underexposed")
    if q["brightness"] > cfg.min_bright_luma:
        reasons.append("overexposed")
    if q["sharpness"] < cfg.min_sharpness:
        reasons.append("blurry")
    if q["contrast"] < cfg.min_contrast:
        reasons.append("low_contrast")
    if q["colourfulness"] < cfg.min_colourfulness:
        reasons.append("low_colourfulness")
    if q["noise"] > cfg.max_noise:
        reasons.append("noisy")
    if q["frozen_fraction"] > cfg.max_frozen_fraction:
        reasons.append("frozen")
    return reasons
