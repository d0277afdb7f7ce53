"""Drawing talking heads with numpy only: every part is a signed distance field in pixels, coverage
clip(0.5 - d, 0, 1) (anti-aliased, smooth sub-pixel motion), composited back to front per face:
long hair, head (a superellipse), hair cap, eyes, brows, mouth.

    clip = make_clip(sample_talk_scene(0))
    clip.frames     # uint8 [F, H, W, 3]
    clip.tracks     # float32 [N, samples] one per face, 16 kHz
    clip.audio      # float32 [samples], their mix
    clip.truth      # per-frame boxes, mouth opening, expression, identity colours (motion.ground_truth)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vitascope.synthetic.faces.motion import FaceState, ground_truth, mix, states, tracks
from vitascope.synthetic.faces.world import (
    BACKGROUNDS,
    EXPRESSION_PARAMS,
    HAIRS,
    MOUTH_CLOSED,
    MOUTH_MAX_OPEN,
    SKINS,
    FaceSpec,
    TalkScene,
)

EYE_DARK = (35, 28, 32)
MOUTH_DARK = (60, 14, 24)  # dark enough to read on the darkest skin (RGB distance 68)
SCLERA = (250, 250, 250)


@dataclasses.dataclass(frozen=True)
class TalkingClip:
    """A rendered scene: frames uint8 [F, H, W, 3], tracks float32 [N, S], audio float32 [S] (16 kHz
    mono), truth (see motion.ground_truth) and the spec."""

    scene: TalkScene
    frames: np.ndarray
    tracks: np.ndarray
    audio: np.ndarray
    truth: dict


def _cover(d: np.ndarray) -> np.ndarray:
    return np.clip(0.5 - d, 0.0, 1.0)


def _ellipse_sdf(dx, dy, ax, by, power: float = 2.0):
    """Approximate signed distance (pixels) to the superellipse |dx/ax|^p + |dy/by|^p = 1 (first order:
    the level-set value over its gradient, exact on the curve)."""
    u, v = np.abs(dx) / ax + 1e-9, np.abs(dy) / by + 1e-9
    f = (u**power + v**power) ** (1.0 / power)
    grad = f ** (1.0 - power) * np.sqrt((u ** (power - 1) / ax) ** 2 + (v ** (power - 1) / by) ** 2)
    return (f - 1.0) / np.maximum(grad, 1e-9)


def _capsule_sdf(dx, dy, p0, p1, half: float):
    """Distance to the segment p0-p1 (each (x [F,1,1], y [F,1,1])) minus a half thickness."""
    ex, ey = p1[0] - p0[0], p1[1] - p0[1]
    t = np.clip(((dx - p0[0]) * ex + (dy - p0[1]) * ey) / (ex * ex + ey * ey), 0.0, 1.0)
    return np.hypot(dx - p0[0] - t * ex, dy - p0[1] - t * ey) - half


def _brow_colour(face: FaceSpec) -> np.ndarray:
    hair, skin = np.array(HAIRS[face.hair], float), np.array(SKINS[face.skin], float)
    dark = 0.45 * hair
    return dark if np.linalg.norm(dark - skin) > 80 else np.array([22.0, 16.0, 16.0])


def _layers(face: FaceSpec, st: FaceState, b: float):
    """The parts of one face, back to front: (bounds (x0, y0, x1, y1) around the centre in pixels,
    sdf(dx, dy) -> [F, h, w], colour). Bounds keep each small part's work to its own neighbourhood."""
    a = face.aspect * b
    ex = EXPRESSION_PARAMS[face.expression]
    hair = np.array(HAIRS[face.hair], float)
    head = (-1.1 * a, -1.1 * b, 1.1 * a, 1.02 * b)
    out = []
    if face.hair_style == "long":
        out.append(
            (head, lambda dx, dy: np.maximum(_ellipse_sdf(dx, dy, 1.08 * a, 1.06 * b), dy - 0.6 * b), hair)
        )
    out.append(
        (head, lambda dx, dy: _ellipse_sdf(dx, dy, a, b, face.roundness), np.array(SKINS[face.skin], float))
    )
    if face.hair_style != "bald":
        top = {"cap": -0.74, "bangs": -0.76, "long": -0.72}[face.hair_style]

        def cap(dx, dy):
            line = top + 0.3 * (dx / a) ** 2
            if face.hair_style == "bangs":
                line = line + 0.05 * np.abs(np.sin(5.0 * dx / a))
            return np.maximum(_ellipse_sdf(dx, dy, 1.04 * a, 1.06 * b), dy - line * b)

        out.append(((-1.1 * a, -1.1 * b, 1.1 * a, -0.3 * b), cap, hair))
    for side in (-1.0, 1.0):
        out.extend(_eye(face, st, side, a, b))
        yc = (face.eye_v - face.brow_gap - ex["brow"]) * b
        inner = (side * (face.eye_u - 0.9 * face.eye_r) * a, yc - ex["tilt"] / 2.0 * b)
        outer = (side * (face.eye_u + 1.1 * face.eye_r) * a, yc + ex["tilt"] / 2.0 * b)
        half = max(0.035 * b, 0.9)
        bounds = (
            min(inner[0], outer[0]) - half - 2,
            yc - 0.1 * b - half - 2,
            max(inner[0], outer[0]) + half + 2,
            yc + 0.1 * b + half + 2,
        )
        out.append(
            (
                bounds,
                lambda dx, dy, p=inner, q=outer, h=half: _capsule_sdf(dx, dy, p, q, h),
                _brow_colour(face),
            )
        )
    out.extend(_mouth(face, st, a, b))
    return out


def _eye(face: FaceSpec, st: FaceState, side: float, a: float, b: float):
    ex = EXPRESSION_PARAMS[face.expression]
    shut = st.eyes[:, None, None].astype(np.float32)  # [F, 1, 1] 1 open, 0 closed
    rx = face.eye_r * a
    ry = np.maximum(rx * face.eye_aspect * ex["eye"] * shut, 0.8)
    x, y = side * face.eye_u * a, face.eye_v * b
    bounds = (x - rx - 2, y - 1.5 * rx - 2, x + rx + 2, y + 1.5 * rx + 2)
    eye = lambda dx, dy: _ellipse_sdf(dx - x, dy - y, rx, ry)  # noqa: E731
    if face.eye_style == "dot":
        return [(bounds, eye, np.array(EYE_DARK, float))]
    closed = shut < 0.35

    def pupil(dx, dy):
        e = eye(dx, dy)
        return np.where(closed, e, np.maximum(np.hypot(dx - x, dy - y) - 0.55 * rx, e))

    return [
        (bounds, lambda dx, dy: np.where(closed, 1e3, eye(dx, dy)), np.array(SCLERA, float)),
        (bounds, pupil, np.array(EYE_DARK, float)),
    ]


def _mouth(face: FaceSpec, st: FaceState, a: float, b: float):
    ex = EXPRESSION_PARAMS[face.expression]
    w = face.mouth_w * ex["mouth_w"] * a
    open_px = MOUTH_MAX_OPEN * b / 2.0 * st.mouth[:, None, None].astype(np.float32)  # [F, 1, 1]
    closed = max(MOUTH_CLOSED * b, 1.4) / 2.0
    y = face.mouth_v * b
    reach = abs(ex["corner"]) * b + closed + MOUTH_MAX_OPEN * b / 2.0 + 2
    bounds = (-w - 2, y - reach, w + 2, y + reach)

    def sdf(dx, dy):
        u = np.clip(dx / w, -1.0, 1.0)
        mid = y - ex["corner"] * b * u * u
        half = closed + open_px * np.sqrt(1.0 - u * u)
        return np.maximum(np.abs(dy - mid) - half, np.abs(dx) - w)

    return [(bounds, sdf, np.array(MOUTH_DARK, float))]


def _draw(canvas: np.ndarray, scene: TalkScene, face: FaceSpec, st: FaceState) -> None:
    """Composite one face into canvas float32 [F, H, W, 3] in place; each part only within the box its
    bounds sweep over the clip."""
    b = face.head_h * scene.height / 2.0
    c = st.centre.astype(np.float32)
    for (x0, y0, x1, y1), sdf_fn, colour in _layers(face, st, b):
        lo_x = max(0, int(np.floor(c[:, 0].min() + x0)) - 1)
        hi_x = min(scene.width, int(np.ceil(c[:, 0].max() + x1)) + 2)
        lo_y = max(0, int(np.floor(c[:, 1].min() + y0)) - 1)
        hi_y = min(scene.height, int(np.ceil(c[:, 1].max() + y1)) + 2)
        if hi_x <= lo_x or hi_y <= lo_y:
            continue
        xs = (np.arange(lo_x, hi_x, dtype=np.float32) + 0.5)[None, None, :]
        ys = (np.arange(lo_y, hi_y, dtype=np.float32) + 0.5)[None, :, None]
        dx, dy = xs - c[:, 0, None, None], ys - c[:, 1, None, None]  # [F, 1, w], [F, h, 1]
        alpha = _cover(sdf_fn(dx, dy))[..., None]  # [F, h, w, 1]
        region = canvas[:, lo_y:hi_y, lo_x:hi_x]
        region += alpha * (colour.astype(np.float32) - region)


def render_faces(scene: TalkScene, face_states: list[FaceState]) -> np.ndarray:
    """Frames uint8 [F, H, W, 3] of the scene with the given per-frame states."""
    canvas = np.empty((scene.frames, scene.height, scene.width, 3), np.float32)
    canvas[:] = np.array(BACKGROUNDS[scene.background], np.float32)
    for face, st in zip(scene.faces, face_states, strict=True):
        _draw(canvas, scene, face, st)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def make_clip(scene: TalkScene) -> TalkingClip:
    """Audio first (it drives the mouths), then motion, then pixels."""
    audio_tracks = tracks(scene)  # [N, S]
    face_states = states(scene, audio_tracks)
    frames = render_faces(scene, face_states)
    return TalkingClip(scene, frames, audio_tracks, mix(audio_tracks), ground_truth(scene, face_states))
