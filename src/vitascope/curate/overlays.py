"""Stage 6: static overlays (watermarks, channel logos) found as edges that persist while the picture moves.

A logo burnt into the picture keeps its edges at the same pixels in every frame; the scene's edges move.
So we take Canny edges of frames spread over the clip, keep pixels that are edges in nearly all of them, and
look for a cluster of such pixels in a corner. When the whole picture is still (a static shot) every edge
persists and the test cannot tell a logo from the scene, so it is skipped rather than guessed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vitascope.curate.config import OverlayConfig


def find_overlay(gray: np.ndarray, cfg: OverlayConfig) -> dict[str, Any]:
    """Look for a persistent-edge logo in the corners of uint8 grey frames [N, H, W].

    Returns watermark_box (x0, y0, x1, y1 as fractions, or None), overlay_check ("ok", "found",
    "skipped_static" or "skipped_short") and background_persistence.
    """
    import cv2

    n, h, w = gray.shape
    if n < 3:
        return {"watermark_box": None, "overlay_check": "skipped_short", "background_persistence": None}
    edges = np.stack([cv2.Canny(g, 60, 150) > 0 for g in gray])  # [N, H, W]
    persistent = edges.mean(axis=0) >= cfg.persistence
    anywhere = edges.any(axis=0)
    ch, cw = max(4, int(cfg.corner * h)), max(4, int(cfg.corner * w))
    centre = np.ones((h, w), bool)
    for ys in (slice(0, ch), slice(h - ch, h)):
        for xs in (slice(0, cw), slice(w - cw, w)):
            centre[ys, xs] = False
    background = float(persistent[centre].sum() / max(1, anywhere[centre].sum()))
    if background > cfg.max_background_persistence:
        return {
            "watermark_box": None,
            "overlay_check": "skipped_static",
            "background_persistence": background,
        }
    best, best_density = None, cfg.min_density
    for y0 in (0, h - ch):
        for x0 in (0, w - cw):
            region = persistent[y0 : y0 + ch, x0 : x0 + cw]
            density = float(region.mean())
            if density >= best_density:
                ys, xs = np.nonzero(region)
                best_density = density
                best = (
                    (x0 + xs.min()) / w,
                    (y0 + ys.min()) / h,
                    (x0 + xs.max() + 1) / w,
                    (y0 + ys.max() + 1) / h,
                )
    return {
        "watermark_box": None if best is None else [float(v) for v in best],
        "overlay_check": "ok" if best is None else "found",
        "background_persistence": background,
    }


def overlay_crop(box: list[float], limit: float = 0.25) -> tuple[str, float] | None:
    """Which band to cut to remove a corner logo: ("top", new y0) or ("bottom", new y1), if it is thin enough."""
    x0, y0, x1, y1 = box
    if y1 <= limit:
        return ("top", y1 + 0.01)
    if y0 >= 1 - limit:
        return ("bottom", y0 - 0.01)
    return None
