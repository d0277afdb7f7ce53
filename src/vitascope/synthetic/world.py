"""The vocabulary of the synthetic world and seeded scene sampling.

A scene is a few flat shapes moving in straight lines over a background, filmed by a camera that may pan or
zoom. Everything is decided here, in plain numbers, so that `render` and the captions agree by
construction and the ground truth of every frame can be computed without looking at pixels.

Coordinates: "world" units are pixels of frame 0 (x right, y down, pixel (i, j) covers [j, j+1) x [i, i+1)).
At frame t the camera maps a world point p to the image point c + z_t (p - c - (pan_t, 0)), c the image
centre, so a camera panning right makes still content drift left, and zooming in magnifies about the centre.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from vitascope.errors import InvalidOptionError

SHAPES = ("circle", "square", "triangle")
# Paths: "straight" is the default world (travel covers the whole clip). The long paths move at the speed a
# straight path has in a NATIVE_FRAMES clip, whatever the length, and last: "bounce" reflects off the frame
# edges, "wrap" leaves one side and comes back in at the other, "stop and go" alternates moving (bouncing)
# and resting. They need a static camera.
PATHS = ("straight", "bounce", "wrap", "stop and go")
LONG_PATHS = PATHS[1:]
NATIVE_FRAMES = 17
STOP_GO = (20, 14)  # frames moving, frames resting, per stop-and-go cycle
MAX_LONG_OBJECTS = 3
# Saturated, well separated hues (plus white) so colour is a robust label even after blur and noise.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 235),
    "yellow": (240, 220, 40),
    "white": (245, 245, 245),
}
# Colours the world can render but never draws at random: the bundled demo model has never seen them, so
# they are what a LoRA tutorial teaches it (docs/lora.md). Asked for explicitly (`sample_scene(colour=...)`,
# `ObjectSpec`); the analyzer names them only when asked to (`analyze(..., colours=ALL_COLOURS)`).
NEW_COLOURS: dict[str, tuple[int, int, int]] = {
    "purple": (150, 60, 230),
    "orange": (245, 140, 30),
    "pink": (245, 110, 180),
}
ALL_COLOURS: dict[str, tuple[int, int, int]] = {**COLOURS, **NEW_COLOURS}
MOTIONS = ("moving left", "moving right", "moving up", "moving down", "staying still")
CAMERAS = ("static", "panning left", "panning right", "zooming in", "zooming out")
# Each background is one or two flat tones; textured ones have a second tone laid out in world coordinates
# (so the camera's motion is visible on them). Black is first: the default and the most common.
BACKGROUNDS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "black": ((0, 0, 0),),
    "white": ((255, 255, 255),),
    "gray": ((128, 128, 128),),
    "blue": ((30, 50, 140),),
    "checkered": ((45, 45, 45), (95, 95, 95)),
    "dotted": ((35, 35, 35), (110, 110, 110)),
}
TEXTURED_BACKGROUNDS = ("checkered", "dotted")
BACKGROUND_WEIGHTS = {"black": 0.4, "white": 0.1, "gray": 0.1, "blue": 0.1, "checkered": 0.15, "dotted": 0.15}
# A background named like an object colour would hide that object.
CLASHES = {("white", "white"), ("blue", "blue")}

# Over a whole clip: an object travels 42% of the frame; a pan moves the view by 25% of the width; a zoom
# changes the scale by 1.3x. Large enough to read in 17 frames at 64x64, small enough to stay in frame.
TRAVEL = 0.42
PAN = 0.25
ZOOM = 1.3
SIZE_RANGE = (0.09, 0.13)  # object "radius" as a fraction of min(H, W)
MIN_SIDE = 16

_DIRECTIONS = {
    "moving left": (-1.0, 0.0),
    "moving right": (1.0, 0.0),
    "moving up": (0.0, -1.0),
    "moving down": (0.0, 1.0),
    "staying still": (0.0, 0.0),
}
# Bounding radius of each shape over its size (radius): circle r, square of half side 0.9 r, upright
# equilateral triangle of circumradius 1.3 r (areas 3.14, 3.24 and 2.20 r^2: similar visual weight).
SQUARE_HALF = 0.9
TRIANGLE_CIRCUM = 1.3
BOUND = {"circle": 1.0, "square": SQUARE_HALF * math.sqrt(2.0), "triangle": TRIANGLE_CIRCUM}


def _check(value: str, allowed, what: str) -> None:
    if value not in allowed:
        raise InvalidOptionError(f"unknown {what} {value!r}; choose one of: {', '.join(allowed)}")


@dataclasses.dataclass(frozen=True)
class ObjectSpec:
    """One shape. `size` is its radius as a fraction of min(H, W); `start_xy` its centre at frame 0 as
    fractions of (W, H) in world coordinates."""

    shape: str
    colour: str
    motion: str
    size: float
    start_xy: tuple[float, float]
    travel: float = (
        TRAVEL  # distance covered over the clip (long paths: per NATIVE_FRAMES), fraction of frame
    )
    path: str = "straight"  # one of PATHS
    phase: float = 0.0  # stop and go: fraction of the cycle already done at frame 0

    def __post_init__(self):
        _check(self.path, PATHS, "path")
        _check(self.shape, SHAPES, "shape")
        _check(self.colour, tuple(ALL_COLOURS), "colour")
        _check(self.motion, MOTIONS, "motion")
        if not 0.01 <= self.size <= 0.5:
            raise InvalidOptionError(
                f"object size {self.size} must be a fraction of the frame in [0.01, 0.5]"
            )


@dataclasses.dataclass(frozen=True)
class SceneSpec:
    """A whole clip: objects, background, camera, and the frame count and size (frames = 4k+1)."""

    objects: tuple[ObjectSpec, ...]
    background: str = "black"
    camera: str = "static"
    frames: int = 17
    height: int = 64
    width: int = 64
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "objects", tuple(self.objects))  # a list would make the spec unhashable
        if not self.objects:
            raise InvalidOptionError("a scene needs at least one object")
        _check(self.background, tuple(BACKGROUNDS), "background")
        _check(self.camera, CAMERAS, "camera")
        if self.frames < 1 or (self.frames - 1) % 4:
            raise InvalidOptionError(f"frames={self.frames}: use 4k+1 frames (1, 5, 9, 13, 17, ...)")
        if min(self.height, self.width) < MIN_SIDE:
            raise InvalidOptionError(
                f"{self.height}x{self.width} is too small; use at least {MIN_SIDE} pixels a side"
            )
        for obj in self.objects:
            if (self.background, obj.colour) in CLASHES:
                raise InvalidOptionError(
                    f"a {obj.colour} object on a {self.background} background is invisible"
                )
        if self.camera != "static" and self.background not in TEXTURED_BACKGROUNDS:
            raise InvalidOptionError(
                f"camera {self.camera!r} is invisible on a plain {self.background} background; "
                f"use one of {', '.join(TEXTURED_BACKGROUNDS)}"
            )
        if self.camera != "static" and any(o.path != "straight" for o in self.objects):
            raise InvalidOptionError(
                f"long paths ({', '.join(LONG_PATHS)}) need a static camera, not {self.camera!r}"
            )

    @property
    def scale(self) -> float:
        return float(min(self.height, self.width))


def camera_at(spec: SceneSpec) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame camera: pan offset in world pixels [T] and zoom factor [T]."""
    u = np.linspace(0.0, 1.0, spec.frames) if spec.frames > 1 else np.zeros(1)
    pan = np.zeros_like(u)
    zoom = np.ones_like(u)
    if spec.camera == "panning right":
        pan = PAN * spec.width * u
    elif spec.camera == "panning left":
        pan = -PAN * spec.width * u
    elif spec.camera == "zooming in":
        zoom = ZOOM**u
    elif spec.camera == "zooming out":
        zoom = ZOOM ** (-u)
    return pan, zoom


def world_positions(spec: SceneSpec, obj: ObjectSpec) -> np.ndarray:
    """The object's centre in world pixels at every frame: [T, 2] (x, y)."""
    if obj.path != "straight":
        return _long_positions(spec, obj)
    u = np.linspace(0.0, 1.0, spec.frames) if spec.frames > 1 else np.zeros(1)
    dx, dy = _DIRECTIONS[obj.motion]
    x0, y0 = obj.start_xy[0] * spec.width, obj.start_xy[1] * spec.height
    d = obj.travel
    return np.stack([x0 + dx * d * spec.width * u, y0 + dy * d * spec.height * u], axis=1)


def margin_px(spec: SceneSpec, obj: ObjectSpec) -> float:
    """Distance from an object's centre to the frame edge at which it touches the 1-pixel margin."""
    return BOUND[obj.shape] * obj.size * spec.scale + 1.0


def moving_frames(spec: SceneSpec, obj: ObjectSpec) -> np.ndarray:
    """Frames of movement done before each frame [T] (float): t for moving paths, less for stop and go."""
    t = np.arange(spec.frames, dtype=np.float64)
    if obj.path != "stop and go":
        return t
    go, rest = STOP_GO
    cycle = go + rest
    s = t + obj.phase * cycle  # position in the cycle sequence
    done = np.floor(s / cycle) * go + np.minimum(np.mod(s, cycle), go)
    return done - done[0]


def _reflect(p: np.ndarray, lo: float, hi: float) -> np.ndarray:
    span = max(hi - lo, 1e-6)
    u = np.mod(p - lo, 2.0 * span)
    return lo + np.where(u <= span, u, 2.0 * span - u)


def _long_positions(spec: SceneSpec, obj: ObjectSpec) -> np.ndarray:
    """[T, 2] centres of a long path: speed travel/(NATIVE_FRAMES - 1) of the frame per moving frame."""
    s = moving_frames(spec, obj) * obj.travel / (NATIVE_FRAMES - 1)
    out = []
    for axis, side in ((0, spec.width), (1, spec.height)):
        p = obj.start_xy[axis] * side + _DIRECTIONS[obj.motion][axis] * s * side
        if _DIRECTIONS[obj.motion][axis] != 0.0:
            m = margin_px(spec, obj)
            p = np.mod(p, side) if obj.path == "wrap" else _reflect(p, m, side - m)
        out.append(p)
    return np.stack(out, axis=1)


def wrap_offsets(spec: SceneSpec, obj: ObjectSpec) -> list[tuple[float, float]]:
    """Where to draw an object: once, or (wrapping) also one frame width/height either side."""
    if obj.path != "wrap":
        return [(0.0, 0.0)]
    dx, dy = _DIRECTIONS[obj.motion]
    if dx:
        return [(0.0, 0.0), (-spec.width, 0.0), (float(spec.width), 0.0)]
    if dy:
        return [(0.0, 0.0), (0.0, -spec.height), (0.0, float(spec.height))]
    return [(0.0, 0.0)]


def image_positions(spec: SceneSpec, obj: ObjectSpec) -> np.ndarray:
    """Ground truth: the object's centre (area centroid) in image pixels at every frame, [T, 2] (x, y)."""
    pan, zoom = camera_at(spec)
    c = np.array([spec.width / 2.0, spec.height / 2.0])
    p = world_positions(spec, obj)
    p = p - np.stack([pan, np.zeros_like(pan)], axis=1)
    return c + zoom[:, None] * (p - c)


def _fits(spec: SceneSpec) -> bool:
    """Every object stays inside the frame (1 px margin) and objects never come within 3 px of each other."""
    _, zoom = camera_at(spec)
    tracks, radii, wraps = [], [], np.zeros(2, dtype=bool)
    for obj in spec.objects:
        xy = image_positions(spec, obj)
        r = BOUND[obj.shape] * obj.size * spec.scale * zoom
        wrap = [obj.path == "wrap" and _DIRECTIONS[obj.motion][k] != 0.0 for k in (0, 1)]
        wraps |= wrap
        if not wrap[0] and ((xy[:, 0] - r < 1).any() or (xy[:, 0] + r > spec.width - 1).any()):
            return False
        if not wrap[1] and ((xy[:, 1] - r < 1).any() or (xy[:, 1] + r > spec.height - 1).any()):
            return False
        tracks.append(xy)
        radii.append(r)
    period = np.array([spec.width, spec.height], dtype=np.float64)
    for i in range(len(tracks)):
        for j in range(i + 1, len(tracks)):
            diff = tracks[i] - tracks[j]
            if wraps.any():  # nearest copy on a wrapping axis
                diff = np.where(wraps, diff - period * np.round(diff / period), diff)
            gap = np.linalg.norm(diff, axis=1) - radii[i] - radii[j]
            if (gap < 3).any():
                return False
    return True


def _pick(rng: np.random.Generator, options, weights=None) -> str:
    options = list(options)
    if weights is not None:
        w = np.array([weights[o] for o in options], dtype=np.float64)
        return options[int(rng.choice(len(options), p=w / w.sum()))]
    return options[int(rng.integers(len(options)))]


def _scene_layout(rng, background, camera, n_objects, constraints):
    """Draw background, camera and the non-positional object fields, honouring the constraints."""
    if background is None:
        backgrounds = tuple(BACKGROUNDS) if camera in (None, "static") else TEXTURED_BACKGROUNDS
        colour = constraints.get("colour")
        backgrounds = [b for b in backgrounds if (b, colour) not in CLASHES]
        background = _pick(rng, backgrounds, BACKGROUND_WEIGHTS)
    if camera is None:
        camera = _pick(rng, CAMERAS) if background in TEXTURED_BACKGROUNDS else "static"
    if n_objects is None:
        n_objects = 1 if rng.random() < 0.7 else 2
    if n_objects not in (1, 2):
        raise InvalidOptionError(
            f"n_objects={n_objects}: the world draws one or two objects (or None for either)"
        )
    kinds = []
    for k in range(n_objects):
        fixed = constraints if k == 0 else {}
        taken = {c for _, c, _ in kinds}
        colours = [c for c in COLOURS if (background, c) not in CLASHES and c not in taken]
        kinds.append(
            (
                fixed.get("shape") or _pick(rng, SHAPES),
                fixed.get("colour") or _pick(rng, colours),
                fixed.get("motion") or _pick(rng, MOTIONS),
            )
        )
    return background, camera, kinds


def _place(
    rng, shape: str, colour: str, motion: str, height: int, width: int, travel_range=None
) -> ObjectSpec:
    """Draw size (and, with `travel_range`, the distance as a fraction of TRAVEL) and a start so the straight
    path stays in frame (camera and neighbours are checked later). Without `travel_range` nothing extra is
    drawn, so every scene of the default world is what it always was."""
    size = float(rng.uniform(*SIZE_RANGE))
    travel = TRAVEL if travel_range is None else TRAVEL * float(rng.uniform(*travel_range))
    start = []
    for axis, side in ((0, width), (1, height)):
        margin = (BOUND[shape] * size * min(height, width) + 1.0) / side
        step = _DIRECTIONS[motion][axis] * travel
        lo, hi = margin - min(step, 0.0), 1.0 - margin - max(step, 0.0)
        start.append(float(rng.uniform(lo, hi)) if hi > lo else 0.5)
    return ObjectSpec(shape, colour, motion, size, (start[0], start[1]), travel)


def sample_scene(
    seed: int,
    frames: int = 17,
    height: int = 64,
    width: int = 64,
    n_objects=None,
    camera=None,
    travel_range: tuple[float, float] | None = None,
    path: str | None = None,
    **constraints,
) -> SceneSpec:
    """Draw a scene from `seed` (deterministic). `constraints` fix any of shape, colour, motion (of the first
    object) and background; `camera` fixes the camera. A single image (frames=1) is frame 0 of its scene:
    still with a static camera unless motion or camera are asked for. `travel_range` (lo, hi): objects cover
    lo..hi times the standard TRAVEL, so moving objects can also start near the middle of the frame.
    `path` (one of LONG_PATHS, or "mixed" for one drawn per moving object) draws long motion instead: a
    static camera, one to MAX_LONG_OBJECTS objects whose moving ones share an axis (so they keep to lanes),
    travel per NATIVE_FRAMES as above. Without it nothing extra is drawn: default scenes are unchanged.
    Raises InvalidOptionError for unknown words or impossible combinations."""
    if travel_range is not None and not 0.0 < travel_range[0] <= travel_range[1] <= 1.0:
        raise InvalidOptionError(f"travel_range must satisfy 0 < lo <= hi <= 1, got {travel_range}")
    unknown = set(constraints) - {"shape", "colour", "motion", "background", "camera"}
    if unknown:
        raise InvalidOptionError(
            f"unknown constraint(s) {sorted(unknown)}; use shape, colour, motion, background, camera"
        )
    camera = camera if camera is not None else constraints.pop("camera", None)
    constraints.pop("camera", None)
    background = constraints.pop("background", None)
    for key, allowed in (("shape", SHAPES), ("colour", tuple(ALL_COLOURS)), ("motion", MOTIONS)):
        if constraints.get(key) is not None:
            _check(constraints[key], allowed, key)
    if background is not None:
        _check(background, tuple(BACKGROUNDS), "background")
    if camera is not None:
        _check(camera, CAMERAS, "camera")
    if frames == 1:
        # An image is frame 0 of its scene: asked-for motion or camera stay in the spec (and the object is
        # placed so that path would fit: an I2V first frame), otherwise objects are still and the camera static.
        constraints.setdefault("motion", None)
        constraints["motion"] = constraints["motion"] or "staying still"
        camera = camera or "static"
    if path is not None:
        return _sample_long(
            seed, frames, height, width, n_objects, camera, background, travel_range, path, constraints
        )
    rng = np.random.default_rng(seed)
    for _ in range(400):
        bg, cam, kinds = _scene_layout(rng, background, camera, n_objects, constraints)
        if frames == 1:
            kinds = [kinds[0]] + [(s, c, "staying still") for s, c, _ in kinds[1:]]
        objects = tuple(_place(rng, s, c, m, height, width, travel_range) for s, c, m in kinds)
        spec = SceneSpec(objects, bg, cam, frames, height, width, int(seed))
        if _fits(spec):
            return spec
    raise InvalidOptionError(
        f"could not place the objects of seed {seed} in a {height}x{width} frame; try a larger frame or one object"
    )


def _long_kinds(rng, background, n_objects, constraints, path):
    """Shapes, colours, motions and paths of a long scene: moving objects share the first one's axis."""
    kinds = []
    for k in range(n_objects):
        fixed = constraints if k == 0 else {}
        taken = {kind[1] for kind in kinds}
        colours = [c for c in COLOURS if (background, c) not in CLASHES and c not in taken]
        motions = MOTIONS
        if kinds and kinds[0][2] != "staying still":
            axis = 0 if _DIRECTIONS[kinds[0][2]][0] else 1
            motions = tuple(m for m in MOTIONS if _DIRECTIONS[m][1 - axis] == 0.0)
        motion = fixed.get("motion") or _pick(rng, motions)
        kind_path = _pick(rng, LONG_PATHS) if path == "mixed" else path
        kinds.append(
            (
                fixed.get("shape") or _pick(rng, SHAPES),
                fixed.get("colour") or _pick(rng, colours),
                motion,
                "straight" if motion == "staying still" else kind_path,
            )
        )
    return kinds


def _place_long(rng, kind, height: int, width: int, travel_range) -> ObjectSpec:
    shape, colour, motion, path = kind
    size = float(rng.uniform(*SIZE_RANGE))
    travel = TRAVEL if travel_range is None else TRAVEL * float(rng.uniform(*travel_range))
    start = []
    for axis, side in ((0, width), (1, height)):
        margin = (BOUND[shape] * size * min(height, width) + 1.0) / side
        along = path == "wrap" and _DIRECTIONS[motion][axis] != 0.0
        start.append(float(rng.uniform(0.0, 1.0)) if along else float(rng.uniform(margin, 1.0 - margin)))
    phase = float(rng.uniform(0.0, 1.0)) if path == "stop and go" else 0.0
    return ObjectSpec(shape, colour, motion, size, (start[0], start[1]), travel, path, phase)


def _sample_long(seed, frames, height, width, n_objects, camera, background, travel_range, path, constraints):
    if path not in LONG_PATHS + ("mixed",):
        raise InvalidOptionError(f"unknown path {path!r}; choose one of: {', '.join(LONG_PATHS)}, mixed")
    if camera not in (None, "static"):
        raise InvalidOptionError(f"long paths need a static camera, not {camera!r}")
    if n_objects is not None and not 1 <= n_objects <= MAX_LONG_OBJECTS:
        raise InvalidOptionError(f"n_objects={n_objects}: long scenes have 1 to {MAX_LONG_OBJECTS} objects")
    rng = np.random.default_rng([seed, 13])
    n = n_objects or int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
    for _ in range(400):
        bg = background
        if bg is None:
            colour = constraints.get("colour")
            options = [b for b in BACKGROUNDS if (b, colour) not in CLASHES]
            bg = _pick(rng, options, BACKGROUND_WEIGHTS)
        kinds = _long_kinds(rng, bg, n, constraints, path)
        objects = tuple(_place_long(rng, kind, height, width, travel_range) for kind in kinds)
        spec = SceneSpec(objects, bg, "static", frames, height, width, int(seed))
        if _fits(spec):
            return spec
    raise InvalidOptionError(
        f"could not place the objects of seed {seed} on long paths in a {height}x{width} frame; "
        "try a larger frame or fewer objects"
    )
