"""The vocabulary of the talking-head world and seeded scene sampling.

A scene is one to three cartoon heads on a plain background, each with its own audio track (speech-like,
singing, real speech from espeak-ng, or silence) and one expression for the whole clip. Everything that
varies is drawn here as plain numbers; `audio.py` makes the tracks, `motion.py` turns them into per-frame
mouth, blink and head motion, `render.py` draws. Geometry of a face is in head units: u across (-1 left
edge .. 1 right edge of the head), v down (-1 top .. 1 chin), so a face is the same at every size.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vitascope.errors import InvalidOptionError

EXPRESSIONS = ("neutral", "happy", "sad", "angry", "surprised")
AUDIO_KINDS = ("speech", "singing", "espeak", "silent")
HAIR_STYLES = ("bald", "cap", "bangs", "long")
EYE_STYLES = ("dot", "sclera")
SKINS: dict[str, tuple[int, int, int]] = {
    "pale": (250, 224, 205),
    "light": (241, 194, 160),
    "tan": (214, 160, 118),
    "olive": (190, 150, 100),
    "brown": (150, 100, 70),
    "dark": (100, 66, 45),
}
HAIRS: dict[str, tuple[int, int, int]] = {
    "black": (30, 25, 25),
    "brown": (95, 60, 35),
    "blond": (225, 190, 95),
    "red": (170, 60, 30),
    "gray": (150, 150, 155),
    "blue": (60, 90, 200),
}
# Plain backdrops, all far (RGB distance > 90) from every skin and hair colour above.
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (248, 248, 248),
    "sky": (140, 200, 240),
    "mint": (150, 230, 170),
    "lilac": (200, 170, 240),
    "navy": (25, 35, 90),
    "teal": (20, 110, 110),
}
# Per expression, in head units (v is a half head height): mouth corner lift (+ up), brow lift (+ up),
# brow tilt (inner end minus outer end, + = inner higher), eye opening scale, mouth width scale.
EXPRESSION_PARAMS: dict[str, dict[str, float]] = {
    "neutral": {"corner": 0.0, "brow": 0.0, "tilt": 0.0, "eye": 1.0, "mouth_w": 1.0},
    "happy": {"corner": 0.13, "brow": 0.03, "tilt": 0.0, "eye": 0.8, "mouth_w": 1.1},
    "sad": {"corner": -0.11, "brow": 0.02, "tilt": 0.09, "eye": 0.9, "mouth_w": 0.9},
    "angry": {"corner": -0.04, "brow": -0.02, "tilt": -0.09, "eye": 0.7, "mouth_w": 0.9},
    "surprised": {"corner": 0.0, "brow": 0.14, "tilt": 0.0, "eye": 1.35, "mouth_w": 0.65},
}
MOUTH_CLOSED = 0.07  # closed-mouth line thickness, in half head heights (at least 1.4 px)
MOUTH_MAX_OPEN = 0.44  # extra mouth height at full loudness, in half head heights
MIN_HEAD_PX = 40  # smallest head height: expressions stay readable down to here
DEFAULT_FPS = 25.0  # like the Avatar release (and SyncNet)
SAMPLE_RATE = 16_000
MAX_FACES = 3


def _check(value, allowed, what: str) -> None:
    if value not in allowed:
        raise InvalidOptionError(f"unknown {what} {value!r}; choose one of: {', '.join(map(str, allowed))}")


@dataclasses.dataclass(frozen=True)
class FaceSpec:
    """One character: identity (shape, colours, layout), expression, and its audio.

    centre (x, y) fractions of (W, H); head_h the head height as a fraction of H; aspect = width / height
    of the head; roundness the superellipse exponent (2 an ellipse, 3 squarer). Layout in head units:
    eye_v (eye centre height), eye_u (eye distance from the middle), eye_r (eye half width), eye_aspect
    (half height / half width), brow_gap (eye centre to brow centre), mouth_v, mouth_w (half width).
    audio: one of AUDIO_KINDS; lead: frames by which the mouth leads its sound (real speech leads)."""

    centre: tuple[float, float]
    head_h: float
    aspect: float = 0.8
    roundness: float = 2.0
    skin: str = "light"
    hair: str = "brown"
    hair_style: str = "cap"
    eye_style: str = "dot"
    eye_v: float = -0.08
    eye_u: float = 0.38
    eye_r: float = 0.12
    eye_aspect: float = 0.75
    brow_gap: float = 0.24
    mouth_v: float = 0.48
    mouth_w: float = 0.33
    expression: str = "neutral"
    audio: str = "speech"
    lead: int = 1
    audio_seed: int = 0

    def __post_init__(self):
        _check(self.skin, tuple(SKINS), "skin")
        _check(self.hair, tuple(HAIRS), "hair colour")
        _check(self.hair_style, HAIR_STYLES, "hair style")
        _check(self.eye_style, EYE_STYLES, "eye style")
        _check(self.expression, EXPRESSIONS, "expression")
        _check(self.audio, AUDIO_KINDS, "audio kind")
        if not 0.05 <= self.head_h <= 0.95:
            raise InvalidOptionError(
                f"head_h={self.head_h} must be a fraction of the frame height in [0.05, 0.95]"
            )
        if not 0 <= self.lead <= 4:
            raise InvalidOptionError(f"lead={self.lead}: the mouth leads its sound by 0..4 frames")


@dataclasses.dataclass(frozen=True)
class TalkScene:
    """A whole clip: faces (left to right), backdrop, frames at fps, frame size, and the seed."""

    faces: tuple[FaceSpec, ...]
    background: str = "white"
    frames: int = 50
    fps: float = DEFAULT_FPS
    height: int = 128
    width: int = 128
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "faces", tuple(self.faces))
        if not 1 <= len(self.faces) <= MAX_FACES:
            raise InvalidOptionError(f"a talking scene has 1 to {MAX_FACES} faces, got {len(self.faces)}")
        _check(self.background, tuple(BACKGROUNDS), "background")
        if self.frames < 1:
            raise InvalidOptionError(f"frames={self.frames}: a clip needs at least one frame")
        if not 1.0 <= self.fps <= 120.0:
            raise InvalidOptionError(f"fps={self.fps} must be in [1, 120]")
        for face in self.faces:
            if face.head_h * self.height < MIN_HEAD_PX:
                raise InvalidOptionError(
                    f"a head of {face.head_h * self.height:.0f} px is too small to read; "
                    f"use heads of at least {MIN_HEAD_PX} px (a larger frame or fewer faces)"
                )

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    @property
    def samples(self) -> int:
        return int(round(self.seconds * SAMPLE_RATE))


def head_box(scene: TalkScene, face: FaceSpec) -> tuple[float, float, float, float]:
    """Bounds of the head with its hair, in pixels, at rest: (x0, y0, x1, y1) relative to its centre."""
    b = face.head_h * scene.height / 2.0
    a = face.aspect * b
    top = -b * (1.06 if face.hair_style != "bald" else 1.0)
    side = a * (1.08 if face.hair_style == "long" else 1.0)
    return -side, top, side, b


MOTION_PX = 0.04  # head motion amplitude, a fraction of the head height


def _identity(rng: np.random.Generator, background: str) -> dict:
    bg = np.array(BACKGROUNDS[background], dtype=np.float64)
    skins = [s for s in SKINS if np.linalg.norm(np.array(SKINS[s]) - bg) > 90]
    hairs = [h for h in HAIRS if np.linalg.norm(np.array(HAIRS[h]) - bg) > 90]
    skin = skins[int(rng.integers(len(skins)))]
    hairs = [h for h in hairs if np.linalg.norm(np.array(HAIRS[h]) - np.array(SKINS[skin])) > 70]
    return {
        "aspect": float(rng.uniform(0.72, 0.9)),
        "roundness": float(rng.uniform(2.0, 3.0)),
        "skin": skin,
        "hair": hairs[int(rng.integers(len(hairs)))],
        "hair_style": HAIR_STYLES[int(rng.integers(len(HAIR_STYLES)))],
        # a white sclera is too close to pale skin to see
        "eye_style": "dot" if skin == "pale" else EYE_STYLES[int(rng.integers(len(EYE_STYLES)))],
        "eye_v": float(rng.uniform(-0.12, -0.02)),
        "eye_u": float(rng.uniform(0.33, 0.42)),
        "eye_r": float(rng.uniform(0.11, 0.15)),
        "eye_aspect": float(rng.uniform(0.6, 0.8)),
        "brow_gap": float(rng.uniform(0.22, 0.26)),
        "mouth_v": float(rng.uniform(0.42, 0.5)),
        "mouth_w": float(rng.uniform(0.28, 0.38)),
    }


def _positions(rng, n: int, height: int, width: int, head_h) -> list[tuple[float, float, float]] | None:
    """Centres and head heights for n faces left to right, in frame and apart (None when they do not fit).
    Without a given head height it is drawn from a range that shrinks with the number of faces and the
    frame's aspect, never under MIN_HEAD_PX."""
    slot = 1.0 / n
    per_h = (0.9 * 1.08 / 2.0 + MOTION_PX) * height / width  # half width of a face per unit of head_h
    fit = min((slot / 2.0 - 0.02) / per_h, (1.0 - 0.08) / (1.06 + 2 * MOTION_PX))
    lo, hi = (0.42, 0.62) if n == 1 else (0.3, 0.5)
    lo, hi = max(lo * min(1.0, fit / hi), MIN_HEAD_PX / height), min(hi, fit)
    out = []
    for k in range(n):
        hh = float(head_h) if head_h is not None else float(rng.uniform(lo, max(lo, hi)))
        half_w = per_h * hh
        x_lo, x_hi = k * slot + half_w + 0.02, (k + 1) * slot - half_w - 0.02
        half_h = 1.06 * hh / 2.0 + MOTION_PX * hh
        if x_hi < x_lo or 1.0 - 2 * half_h - 0.04 < 0:
            return None
        out.append(
            (float(rng.uniform(x_lo, x_hi)), float(rng.uniform(half_h + 0.02, 1.0 - half_h - 0.02)), hh)
        )
    return out


def sample_talk_scene(
    seed: int,
    frames: int = 50,
    height: int = 128,
    width: int = 128,
    fps: float = DEFAULT_FPS,
    n_faces: int | None = None,
    expressions: tuple[str, ...] | None = None,
    audio: tuple[str, ...] | None = None,
    background: str | None = None,
    head_h: float | None = None,
    lead: int | None = None,
) -> TalkScene:
    """Draw a scene from `seed` (deterministic). Optional overrides: the number of faces, the expression and
    audio kind of each face (tuples, left to right), the backdrop, one head height for all faces (a
    fraction of H), and the mouth lead in frames. Without `audio`, one face sings or speaks and in a scene
    of several one face is silent half the time. "espeak" is only drawn when asked for."""
    if n_faces is None:
        n_faces = len(expressions or audio or ()) or None
    rng = np.random.default_rng(seed)
    if n_faces is None:
        n_faces = int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
        while n_faces > 1 and _positions(np.random.default_rng(0), n_faces, height, width, head_h) is None:
            n_faces -= 1  # as many as fit the frame
    if not 1 <= n_faces <= MAX_FACES:
        raise InvalidOptionError(f"n_faces={n_faces}: the world draws 1 to {MAX_FACES} faces")
    for name, values, allowed in (
        ("expression", expressions, EXPRESSIONS),
        ("audio kind", audio, AUDIO_KINDS),
    ):
        if values is not None:
            if len(values) != n_faces:
                raise InvalidOptionError(f"{len(values)} {name}s given for {n_faces} faces")
            for v in values:
                _check(v, allowed, name)
    if background is not None:
        _check(background, tuple(BACKGROUNDS), "background")
    bg = background or tuple(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))]
    places = _positions(rng, n_faces, height, width, head_h)
    if places is None:
        raise InvalidOptionError(f"{n_faces} faces do not fit a {height}x{width} frame; use a larger frame")
    kinds = list(audio) if audio is not None else _audio_kinds(rng, n_faces)
    faces = []
    for k, (x, y, hh) in enumerate(places):
        ident = _identity(rng, bg)
        expr = expressions[k] if expressions is not None else EXPRESSIONS[int(rng.integers(len(EXPRESSIONS)))]
        face_lead = int(lead) if lead is not None else int(rng.integers(1, 3))
        faces.append(
            FaceSpec(
                (x, y),
                hh,
                expression=expr,
                audio=kinds[k],
                lead=face_lead,
                audio_seed=int(rng.integers(2**31)),
                **ident,
            )
        )
    return TalkScene(tuple(faces), bg, frames, float(fps), height, width, int(seed))


def _audio_kinds(rng: np.random.Generator, n: int) -> list[str]:
    kinds = ["singing" if rng.random() < 0.25 else "speech" for _ in range(n)]
    if n > 1 and rng.random() < 0.5:
        kinds[int(rng.integers(n))] = "silent"
    return kinds
