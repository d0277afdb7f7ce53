"""Drawing figures (flat parts on a plain background) and OpenPose-like skeleton images, from keypoints.

Both draw from COCO-17 keypoints, so a template, a retargeted sequence or an analyzer's output renders the
same way. Parts are signed distance fields at pixel centres with coverage clip(0.5 - d, 0, 1), as in the
shapes world: limbs are capsules, the torso a trapezoid through the shoulders and hips, the head a disc
centred between the ears on a short neck. Order (back to front): legs, neck, torso, arms, head.
"""

from __future__ import annotations

import colorsys

import numpy as np

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.figures.model import BONES, FIGURE_BACKGROUNDS, Figure, K, head_centre

_LIMBS = {"legs": ((11, 13), (13, 15), (12, 14), (14, 16)), "arms": ((5, 7), (7, 9), (6, 8), (8, 10))}


def _capsule(xs, ys, a, b, half_width) -> np.ndarray:
    """Signed distance (pixels) from pixel centres to a capsule from a to b [2] of half width."""
    ab = b - a
    denom = max(float(ab @ ab), 1e-9)
    u = np.clip(((xs - a[0]) * ab[0] + (ys - a[1]) * ab[1]) / denom, 0.0, 1.0)
    dx, dy = xs - (a[0] + u * ab[0]), ys - (a[1] + u * ab[1])
    return np.sqrt(dx * dx + dy * dy) - half_width


def _polygon(xs, ys, corners: np.ndarray) -> np.ndarray:
    """Signed distance (exact near the edges) to a convex polygon [N, 2] in either winding."""
    x, y = corners[:, 0], corners[:, 1]
    area = float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
    if area < 0:
        corners = corners[::-1]
    d = None
    for p, q in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        e = q - p
        n = np.array([e[1], -e[0]]) / max(float(np.hypot(*e)), 1e-9)  # outward for this winding
        side = (xs - p[0]) * n[0] + (ys - p[1]) * n[1]
        d = side if d is None else np.maximum(d, side)
    return d


def torso_corners(kp: np.ndarray, figure: Figure, height: float) -> np.ndarray:
    """The torso trapezoid [4, 2]: the shoulder line widened by half an arm, the hip line by half a leg."""
    ls, rs, lh, rh = kp[K["left_shoulder"]], kp[K["right_shoulder"]], kp[K["left_hip"]], kp[K["right_hip"]]
    us = (ls - rs) / max(float(np.linalg.norm(ls - rs)), 1e-9)
    uh = (lh - rh) / max(float(np.linalg.norm(lh - rh)), 1e-9)
    a, b = figure.arm_w / 2 * height, figure.leg_w / 2 * height
    return np.stack([ls + a * us, lh + b * uh, rh - b * uh, rs - a * us])


def _layers(kp: np.ndarray, figure: Figure, height: float, xs, ys):
    """(colour, signed distance) of each part, back to front."""
    s = float(height)
    for a, b in _LIMBS["legs"]:
        yield figure.legs, _capsule(xs, ys, kp[a], kp[b], figure.leg_w / 2 * s)
    neck = (kp[K["left_shoulder"]] + kp[K["right_shoulder"]]) / 2.0
    centre = head_centre(kp)
    yield figure.head, _capsule(xs, ys, neck, centre, figure.arm_w / 2 * s)  # under the torso's top edge
    yield figure.torso, _polygon(xs, ys, torso_corners(kp, figure, s))
    for a, b in _LIMBS["arms"]:
        yield figure.arms, _capsule(xs, ys, kp[a], kp[b], figure.arm_w / 2 * s)
    yield figure.head, np.sqrt((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) - figure.head_r * s


def _canvas(size, background):
    h, w = (int(v) for v in size)
    if min(h, w) < 16:
        raise InvalidOptionError(f"{h}x{w} is too small for a figure; use at least 16 pixels a side")
    if isinstance(background, str):
        if background not in FIGURE_BACKGROUNDS:
            raise InvalidOptionError(
                f"unknown figure background {background!r}; choose one of: {', '.join(FIGURE_BACKGROUNDS)}"
            )
        background = FIGURE_BACKGROUNDS[background]
    return h, w, np.array(background, dtype=np.float32)


def render_figure(
    figure: Figure, keypoints, height: float, size=(128, 128), background="black"
) -> np.ndarray:
    """uint8 frames [T, H, W, 3] (or [H, W, 3] for keypoints [17, 2]) of `figure` posed by `keypoints`
    (pixels) with a standing height of `height` pixels (it sets the widths and the head size)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    single = kp.ndim == 2
    kp = kp[None] if single else kp
    if kp.shape[1:] != (17, 2):
        raise InvalidOptionError(f"keypoints must be [T, 17, 2] (COCO-17), got {list(kp.shape)}")
    h, w, bg = _canvas(size, background)
    ys = (np.arange(h, dtype=np.float64) + 0.5)[:, None]
    xs = (np.arange(w, dtype=np.float64) + 0.5)[None, :]
    out = np.empty((len(kp), h, w, 3), dtype=np.uint8)
    for t in range(len(kp)):
        frame = np.broadcast_to(bg, (h, w, 3)).astype(np.float32)
        for colour, sdf in _layers(kp[t], figure, height, xs, ys):
            alpha = np.clip(0.5 - sdf, 0.0, 1.0).astype(np.float32)[..., None]
            frame = frame * (1.0 - alpha) + np.array(colour, dtype=np.float32) * alpha
        out[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return out[0] if single else out


def bone_colours() -> list[tuple[int, int, int]]:
    """One saturated colour per bone of BONES, around the hue wheel (the OpenPose look)."""
    out = []
    for i in range(len(BONES)):
        r, g, b = colorsys.hsv_to_rgb(i / len(BONES), 1.0, 1.0)
        out.append((int(r * 255), int(g * 255), int(b * 255)))
    return out


def draw_skeleton(keypoints, size=(128, 128), thickness: int | None = None, confidence=None) -> np.ndarray:
    """The pose-conditioning image: coloured bones and white joints on black, uint8 [T, H, W, 3] (or
    [H, W, 3]). Keypoints with `confidence` [.., 17] <= 0 (missing) and their bones are left out."""
    import cv2

    kp = np.asarray(keypoints, dtype=np.float64)
    single = kp.ndim == 2
    kp = kp[None] if single else kp
    conf = np.ones(kp.shape[:2]) if confidence is None else np.asarray(confidence, dtype=np.float64)
    conf = conf[None] if conf.ndim == 1 else conf
    h, w, _ = _canvas(size, "black")
    thick = thickness or max(1, round(min(h, w) / 40))
    shift = 4  # cv2 fixed-point sub-pixel drawing: coordinates times 16
    out = np.zeros((len(kp), h, w, 3), dtype=np.uint8)
    colours = bone_colours()
    for t in range(len(kp)):
        # pixel (i, j) covers [j, j+1): cv2 draws at integer centres, so shift by half a pixel
        pts = np.rint((kp[t] - 0.5) * (1 << shift)).astype(np.int64)
        for (a, b), colour in zip(BONES, colours, strict=True):
            if conf[t, a] > 0 and conf[t, b] > 0:
                cv2.line(
                    out[t],
                    tuple(map(int, pts[a])),
                    tuple(map(int, pts[b])),
                    colour,
                    thick,
                    cv2.LINE_AA,
                    shift,
                )
        for j in range(17):
            if conf[t, j] > 0:
                cv2.circle(
                    out[t],
                    tuple(map(int, pts[j])),
                    (thick + 1) << (shift - 1),
                    (255, 255, 255),
                    -1,
                    cv2.LINE_AA,
                    shift,
                )
    return out[0] if single else out
