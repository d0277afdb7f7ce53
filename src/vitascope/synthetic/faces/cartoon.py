"""Evaluator-style cartoon faces, drawn independently of the talking-head world's renderer.

What an outside evaluator would draw (issue 12): a filled oval head in a skin tone on a plain background, two
dark eyes and a dark mouth, one or two faces. Drawn with OpenCV ellipses at 4x and downsampled (area), so
the geometry, colours and anti-aliasing differ from `render.py`'s signed-distance drawing: the analyzer and
the avatar eval are tested on faces the world never drew and the model never trained on.

    faces, bg = sample_cartoon(seed, n_faces=2, height=128, width=192)
    frame = draw_cartoon(faces, bg, 128, 192, openings=[0.3, 0.0])     # uint8 [H, W, 3]
    truth = mouth_height(faces[0], 0.3)      # mouth height over head height (what analyze_talk measures)
"""

from __future__ import annotations

import dataclasses

import numpy as np

SUPER = 4  # drawn at 4x, then area-downsampled
# Skin tones and backdrops of the evaluator's palette (not the world's lists: other values on purpose).
CARTOON_SKINS = ((236, 200, 170), (226, 180, 140), (200, 150, 110), (165, 115, 80), (120, 80, 55))
CARTOON_BACKGROUNDS = ((235, 235, 235), (120, 170, 220), (170, 215, 160), (60, 60, 110), (210, 190, 230))
DARK = (25, 20, 20)
MOUTH = (70, 20, 25)
CLOSED = 0.04  # closed mouth height, in head heights
MAX_OPEN = 0.2  # extra mouth height at opening 1, in head heights


@dataclasses.dataclass(frozen=True)
class CartoonFace:
    """Head centre (cx, cy) and radii (rx, ry) in pixels, skin RGB."""

    cx: float
    cy: float
    rx: float
    ry: float
    skin: tuple[int, int, int]


def mouth_height(face: CartoonFace, opening: float) -> float:
    """The drawn mouth's height over the head height for an opening in [0, 1]."""
    return CLOSED + MAX_OPEN * float(opening)


def sample_cartoon(seed: int, n_faces: int, height: int, width: int):
    """(faces left to right, background RGB) drawn from `seed`; heads fill 55-75% of the height."""
    rng = np.random.default_rng([seed, 4242])
    bg = CARTOON_BACKGROUNDS[int(rng.integers(len(CARTOON_BACKGROUNDS)))]
    faces = []
    for k in range(n_faces):
        ry = float(rng.uniform(0.28, 0.36)) * height
        rx = ry * float(rng.uniform(0.72, 0.85))
        slot = width / n_faces
        cx = slot * (k + 0.5) + float(rng.uniform(-0.08, 0.08)) * slot
        cx = float(np.clip(cx, rx + 2, width - rx - 2))
        cy = height / 2 + float(rng.uniform(-0.06, 0.06)) * height
        faces.append(CartoonFace(cx, cy, rx, ry, CARTOON_SKINS[int(rng.integers(len(CARTOON_SKINS)))]))
    return faces, bg


def _ellipse(canvas, cx, cy, rx, ry, colour) -> None:
    import cv2

    s = SUPER
    centre = (int(round(cx * s)), int(round(cy * s)))
    axes = (max(1, int(round(rx * s))), max(1, int(round(ry * s))))
    cv2.ellipse(canvas, centre, axes, 0, 0, 360, tuple(int(c) for c in colour), -1, lineType=cv2.LINE_8)


def draw_cartoon(faces, background, height: int, width: int, openings=None) -> np.ndarray:
    """One frame uint8 [H, W, 3]: each face with its mouth opening (0 closed .. 1 wide open)."""
    import cv2

    openings = np.zeros(len(faces)) if openings is None else np.asarray(openings, np.float64)
    canvas = np.empty((height * SUPER, width * SUPER, 3), np.uint8)
    canvas[:] = np.array(background, np.uint8)
    for face, opening in zip(faces, openings, strict=True):
        _ellipse(canvas, face.cx, face.cy, face.rx, face.ry, face.skin)
        for side in (-1, 1):
            _ellipse(canvas, face.cx + side * 0.38 * face.rx, face.cy - 0.18 * face.ry, 0.11 * face.rx,
                     0.13 * face.ry, DARK)  # fmt: skip
        half_h = mouth_height(face, opening) * face.ry  # half of (fraction x head height 2 ry)
        _ellipse(canvas, face.cx, face.cy + 0.5 * face.ry, 0.3 * face.rx, half_h, MOUTH)
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)


def draw_cartoon_video(faces, background, height: int, width: int, openings) -> np.ndarray:
    """Frames uint8 [F, H, W, 3] for openings [N, F] (one row per face)."""
    openings = np.asarray(openings, np.float64)
    return np.stack(
        [draw_cartoon(faces, background, height, width, openings[:, t]) for t in range(openings.shape[1])]
    )
