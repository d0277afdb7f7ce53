"""Global camera motion (pan + zoom) measured on the background of a clip.

The camera model is the world's: frame t sees frame 0 through p_t = c + z_t (p_0 - c) + s_t, with c the
image centre, z_t a zoom factor and s_t the shift of the content in pixels (a camera panning right shifts
content left, s_x < 0). Each consecutive pair is first aligned by an integer-shift search (robust to the
periodic checkerboard, where a gradient method alone can lock onto the wrong period), then refined by a few
Gauss-Newton steps of Lucas-Kanade on the blurred background only; the pairs are composed into s_t, z_t.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

MIN_TEXTURE = 12.0  # mean squared gradient (grey levels^2 / px^2) below which the background is flat


@dataclasses.dataclass(frozen=True)
class CameraTrack:
    """Per-frame content shift [T, 2] (pixels) and zoom [T] relative to frame 0; `textured` says whether
    the background had enough texture to measure anything (if not, the track is the identity)."""

    shift: np.ndarray
    zoom: np.ndarray
    textured: bool

    def to_frame0(self, xy: np.ndarray, centre: tuple[float, float]) -> np.ndarray:
        """Map image points [T, 2] of each frame back to frame-0 (world) coordinates."""
        c = np.asarray(centre, dtype=np.float64)
        return c + (xy - c - self.shift) / self.zoom[:, None]


def _blur(gray: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in gray])


def _best_shift(prev, cur, valid, radius: int, around=(0, 0)) -> tuple[int, int]:
    """Integer (dx, dy) within `radius` of `around` minimising the mean squared difference
    cur(p + d) - prev(p) on valid pixels."""
    h, w = prev.shape
    best, best_err = (0, 0), np.inf
    for dy in range(around[1] - radius, around[1] + radius + 1):
        for dx in range(around[0] - radius, around[0] + radius + 1):
            ys, xs = slice(max(0, -dy), min(h, h - dy)), slice(max(0, -dx), min(w, w - dx))
            ys2, xs2 = slice(ys.start + dy, ys.stop + dy), slice(xs.start + dx, xs.stop + dx)
            m = valid[ys, xs]
            if m.sum() < 16:
                continue
            err = float(((cur[ys2, xs2] - prev[ys, xs])[m] ** 2).mean()) + 1e-3 * (dx * dx + dy * dy)
            if err < best_err:
                best, best_err = (dx, dy), err
    return best


def _refine(prev, cur, valid, theta, centre, iters: int = 8) -> np.ndarray:
    """Gauss-Newton on theta = (a, tx, ty): cur(c + (1 + a)(p - c) + t) ~= prev(p), valid pixels only."""
    import cv2

    h, w = prev.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    rx, ry = xs - centre[0], ys - centre[1]
    for _ in range(iters):
        a, tx, ty = theta
        mx = (centre[0] + (1 + a) * rx + tx).astype(np.float32)
        my = (centre[1] + (1 + a) * ry + ty).astype(np.float32)
        warped = cv2.remap(cur, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        inside = valid & (mx >= 1) & (mx <= w - 2) & (my >= 1) & (my <= h - 2)
        if inside.sum() < 16:
            break
        gy, gx = np.gradient(warped)
        jac = np.stack([gx * rx + gy * ry, gx, gy], axis=-1)[inside].astype(np.float64)  # [N, 3]
        res = (warped - prev)[inside].astype(np.float64)
        hess = jac.T @ jac + 1e-6 * np.eye(3) * max(1.0, float(np.trace(jac.T @ jac)))
        step = -np.linalg.solve(hess, jac.T @ res)
        theta = theta + step
        if abs(step[0]) * max(h, w) < 1e-3 and abs(step[1]) + abs(step[2]) < 1e-3:
            break
    return theta


def estimate_camera(gray: np.ndarray, valid: np.ndarray) -> CameraTrack:
    """gray float32 [T, H, W] (0-255), valid bool [T, H, W] (background pixels) -> CameraTrack."""
    t, h, w = gray.shape
    identity = CameraTrack(np.zeros((t, 2)), np.ones(t), False)
    if t < 2:
        return identity
    sigma = max(1.0, min(h, w) / 40.0)
    blurred = _blur(gray.astype(np.float32), sigma)
    margin = int(math.ceil(2 * sigma)) + 1
    edge = np.zeros((h, w), dtype=bool)
    edge[margin : h - margin, margin : w - margin] = True
    gy, gx = np.gradient(blurred[0])
    texture = (gx * gx + gy * gy)[valid[0] & edge]
    if texture.size < 16 or float(texture.mean()) < MIN_TEXTURE:
        return identity
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)  # in pixel-index coordinates, same centre as the world's
    radius = max(1, int(round(0.1 * min(h, w))))
    shift, zoom = [np.zeros(2)], [1.0]
    s_step = np.zeros(2)
    for i in range(1, t):
        ok = valid[i - 1] & valid[i] & edge
        # The first pair searches the whole range; later ones search near the last step (smooth cameras).
        if i == 1:
            dx, dy = _best_shift(blurred[0], blurred[1], ok, radius)
        else:
            dx, dy = _best_shift(blurred[i - 1], blurred[i], ok, 2, (round(s_step[0]), round(s_step[1])))
        theta = _refine(blurred[i - 1], blurred[i], ok, np.array([0.0, dx, dy]), centre)
        # cur(W(p)) ~= prev(p): the content at p in frame i-1 sits at W(p) in frame i.
        z_step, s_step = 1.0 + theta[0], np.array([theta[1], theta[2]])
        # compose with the running transform: p_i = c + z_step (p_{i-1} - c) + s_step
        shift.append(z_step * shift[-1] + s_step)
        zoom.append(z_step * zoom[-1])
    return CameraTrack(np.array(shift), np.array(zoom), True)
