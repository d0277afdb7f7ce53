"""Rendering a SceneSpec to uint8 frames with numpy only (no OpenCV needed to train on the world).

Every shape and background edge is a signed distance field evaluated at pixel centres; coverage is
clip(0.5 - distance_in_pixels, 0, 1), a box-filter approximation of anti-aliasing that keeps sub-pixel
motion smooth and keeps each object's area centroid exactly at its ground-truth position.
"""

from __future__ import annotations

import math

import numpy as np

from vitascope.synthetic.world import (
    ALL_COLOURS,
    BACKGROUNDS,
    SQUARE_HALF,
    TRIANGLE_CIRCUM,
    SceneSpec,
    camera_at,
    image_positions,
    wrap_offsets,
)

TILES_PER_SIDE = 8  # checker and dot spacing: min(H, W) / 8 world pixels


def _coverage(sdf: np.ndarray) -> np.ndarray:
    return np.clip(0.5 - sdf, 0.0, 1.0)


def shape_sdf(shape: str, dx: np.ndarray, dy: np.ndarray, radius) -> np.ndarray:
    """Signed distance in pixels (negative inside) of `shape` of size `radius` centred at the origin;
    dx, dy are offsets of pixel centres from the shape's area centroid (broadcastable)."""
    if shape == "circle":
        return np.sqrt(dx * dx + dy * dy) - radius
    if shape == "square":
        half = SQUARE_HALF * radius
        qx, qy = np.abs(dx) - half, np.abs(dy) - half
        outside = np.sqrt(np.maximum(qx, 0.0) ** 2 + np.maximum(qy, 0.0) ** 2)
        return outside + np.minimum(np.maximum(qx, qy), 0.0)
    if shape == "triangle":
        # Upright equilateral triangle: three half-planes at the inradius (half the circumradius) from the
        # centroid; their max is exact along the edges, which is where coverage is decided.
        inradius = TRIANGLE_CIRCUM * radius / 2.0
        s, c = math.sqrt(3.0) / 2.0, 0.5
        return np.maximum(np.maximum(dy, -s * dx - c * dy), s * dx - c * dy) - inradius
    raise ValueError(f"unknown shape {shape!r}")


def _hash(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A deterministic pseudo-random value in [0, 1) per integer pair (the usual sine-fract hash)."""
    v = np.sin(a.astype(np.float64) * 12.9898 + b.astype(np.float64) * 78.233) * 43758.5453
    return v - np.floor(v)


def _background(spec: SceneSpec, wx: np.ndarray, wy: np.ndarray, zoom: np.ndarray) -> np.ndarray:
    """Background colour [T, H, W, 3] at world coordinates wx, wy [T, H, W]; zoom [T, 1, 1] converts world
    distances to pixels for the anti-aliasing."""
    tones = np.array(BACKGROUNDS[spec.background], dtype=np.float32)
    if len(tones) == 1:
        return np.broadcast_to(tones[0], wx.shape + (3,)).copy()
    tile = spec.scale / TILES_PER_SIDE
    if spec.background == "checkered":

        def axis(w):
            idx = np.floor(w / tile)
            frac = w / tile - idx
            dist = np.minimum(frac, 1.0 - frac) * tile * zoom
            sign = np.where(idx % 2 == 0, 1.0, -1.0)
            return np.clip(0.5 + sign * dist, 0.0, 1.0)

        ax, ay = axis(wx), axis(wy)
        mix = ax * (1.0 - ay) + (1.0 - ax) * ay  # soft XOR of the two stripe patterns
    else:
        # dotted: a dot of radius tile/4 in every tile, jittered by a hash of the tile index so the pattern
        # is not periodic (a periodic one makes a half-period pan ambiguous, for the analyzer and the eye)
        ix, iy = np.floor(wx / tile), np.floor(wy / tile)
        jx = _hash(ix, iy) - 0.5
        jy = _hash(iy + 17.0, ix - 31.0) - 0.5
        gx = wx - (ix + 0.5 + 0.4 * jx) * tile
        gy = wy - (iy + 0.5 + 0.4 * jy) * tile
        mix = _coverage((np.sqrt(gx * gx + gy * gy) - tile / 4.0) * zoom)
    mix = mix.astype(np.float32)[..., None]
    return tones[0] * (1.0 - mix) + tones[1] * mix


def render(spec: SceneSpec) -> np.ndarray:
    """Render the scene: uint8 [T, H, W, 3]."""
    _t, h, w = spec.frames, spec.height, spec.width
    pan, zoom = camera_at(spec)
    ys = (np.arange(h, dtype=np.float32) + 0.5)[None, :, None]
    xs = (np.arange(w, dtype=np.float32) + 0.5)[None, None, :]
    z = zoom.astype(np.float32)[:, None, None]  # [T, 1, 1]
    cx, cy = w / 2.0, h / 2.0
    wx = cx + (xs - cx) / z + pan.astype(np.float32)[:, None, None]  # [T, 1, W]
    wy = cy + (ys - cy) / z  # [T, H, 1]
    wx, wy = np.broadcast_arrays(wx, wy)
    frames = _background(spec, wx, wy, z)  # [T, H, W, 3]
    for obj in spec.objects:
        pos = image_positions(spec, obj).astype(np.float32)  # [T, 2]
        radius = (obj.size * spec.scale * zoom).astype(np.float32)[:, None, None]
        dx = xs - pos[:, 0, None, None]
        dy = ys - pos[:, 1, None, None]
        alpha = _coverage(shape_sdf(obj.shape, dx, dy, radius))[..., None]  # [T, H, W, 1]
        for ox, oy in wrap_offsets(spec, obj)[1:]:  # a wrapping object also shows on the far side
            more = _coverage(shape_sdf(obj.shape, dx - np.float32(ox), dy - np.float32(oy), radius))
            alpha = np.maximum(alpha, more[..., None])
        colour = np.array(ALL_COLOURS[obj.colour], dtype=np.float32)
        frames = frames * (1.0 - alpha) + colour * alpha
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def object_alpha(spec: SceneSpec, index: int) -> np.ndarray:
    """Coverage [T, H, W] of one object, as drawn by `render` (ground truth for tests and evaluation)."""
    _, zoom = camera_at(spec)
    obj = spec.objects[index]
    pos = image_positions(spec, obj)
    ys = (np.arange(spec.height) + 0.5)[None, :, None]
    xs = (np.arange(spec.width) + 0.5)[None, None, :]
    radius = (obj.size * spec.scale * zoom)[:, None, None]
    alpha = _coverage(shape_sdf(obj.shape, xs - pos[:, 0, None, None], ys - pos[:, 1, None, None], radius))
    for ox, oy in wrap_offsets(spec, obj)[1:]:
        dx, dy = xs - pos[:, 0, None, None] - ox, ys - pos[:, 1, None, None] - oy
        alpha = np.maximum(alpha, _coverage(shape_sdf(obj.shape, dx, dy, radius)))
    return alpha
