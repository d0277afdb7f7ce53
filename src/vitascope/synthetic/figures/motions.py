"""Motion templates: joint-angle curves of the articulated model, turned into keypoints for any figure.

A Motion is the figure-independent part of a movement: per frame the ten ANGLES (degrees), the pelvis's
sideways travel `root_x` and the height `lift` of the figure's lowest point above the ground, both in units
of the standing height. `motion_keypoints` poses a given figure with it: its own bone lengths, the
template's angles, feet (or hands, in a cartwheel) on the ground line. That is the retargeting rule (keep
the target's bones, take the template's angles), and `keypoints_to_motion` reads a Motion back from any
keypoint sequence (a template, a keypoint JSON, the analyzer's reading of a video).

Built-in templates (TEMPLATES) are procedural: key poses joined by smoothstep curves, or sines for the
cyclic parts. Loops (wave, dance, squat, walk) repeat to fill a requested frame count; one-shot routines
(jump, gymnastics) are stretched in time instead.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.figures.model import (
    ANGLES,
    Figure,
    K,
    angle_of,
    forward,
    head_centre,
    lowest_offset,
    wrap_degrees,
)

A = {name: i for i, name in enumerate(ANGLES)}
GROUND_MARGIN = 0.06  # the ground line sits this fraction of the frame height above the bottom edge


@dataclasses.dataclass
class Motion:
    """name; angles [T, 10] degrees (ANGLES order); root_x [T] and lift [T] in standing heights; loop."""

    name: str
    angles: np.ndarray
    root_x: np.ndarray
    lift: np.ndarray
    loop: bool = True

    def __post_init__(self):
        self.angles = np.asarray(self.angles, dtype=np.float64)
        t = len(self.angles)
        self.root_x = np.asarray(self.root_x, dtype=np.float64).reshape(t)
        self.lift = np.asarray(self.lift, dtype=np.float64).reshape(t)
        if self.angles.ndim != 2 or self.angles.shape[1] != len(ANGLES) or t < 1:
            raise InvalidOptionError(
                f"motion {self.name!r}: angles must be [T, {len(ANGLES)}], got {list(self.angles.shape)}"
            )
        if not (
            np.isfinite(self.angles).all() and np.isfinite(self.root_x).all() and np.isfinite(self.lift).all()
        ):
            raise InvalidOptionError(f"motion {self.name!r} has missing (non-finite) values")

    def __len__(self) -> int:
        return len(self.angles)

    def resample(self, frames: int) -> Motion:
        """`frames` frames of this motion: cycles repeated (loops), or the routine stretched in time."""
        if frames < 1:
            raise InvalidOptionError(f"frames={frames}: ask for at least one frame")
        t = len(self)
        if self.loop:
            idx = np.arange(frames) % t
            # each repeat continues the travel of the one before (a loop that ends elsewhere keeps going)
            shift = (np.arange(frames) // t) * (self.root_x[-1] - self.root_x[0])
            angles, root_x, lift = self.angles[idx], self.root_x[idx] + shift, self.lift[idx]
        else:
            src, dst = np.arange(t), np.linspace(0, t - 1, frames)
            angles = np.stack([np.interp(dst, src, self.angles[:, k]) for k in range(len(ANGLES))], 1)
            root_x, lift = np.interp(dst, src, self.root_x), np.interp(dst, src, self.lift)
        return Motion(self.name, angles, root_x, lift, self.loop)

    def to_json(self) -> dict:
        return {
            "format": "vitascope-motion-1",
            "name": self.name,
            "loop": self.loop,
            "angles": list(ANGLES),
            "values": np.round(self.angles, 3).tolist(),
            "root_x": np.round(self.root_x, 5).tolist(),
            "lift": np.round(self.lift, 5).tolist(),
        }

    @classmethod
    def from_json(cls, data: dict) -> Motion:
        if data.get("format") != "vitascope-motion-1" or list(data.get("angles", [])) != list(ANGLES):
            raise InvalidOptionError(
                "not a vitascope motion file (format vitascope-motion-1 with the ANGLES order)"
            )
        return cls(str(data["name"]), data["values"], data["root_x"], data["lift"], bool(data["loop"]))


def _smooth(s: np.ndarray, keys: list[tuple[float, float]]) -> np.ndarray:
    """Piecewise smoothstep through (time, value) keys, time in [0, 1]: C1-continuous, flat at each key."""
    ts = np.array([k[0] for k in keys])
    vs = np.array([k[1] for k in keys])
    i = np.clip(np.searchsorted(ts, s, side="right") - 1, 0, len(ts) - 2)
    u = np.clip((s - ts[i]) / np.maximum(ts[i + 1] - ts[i], 1e-9), 0.0, 1.0)
    u = u * u * (3 - 2 * u)
    return vs[i] + (vs[i + 1] - vs[i]) * u


def _frame(t: int):
    s = np.arange(t) / t  # loops: s = 1 would repeat s = 0
    return s, np.zeros((t, len(ANGLES))), np.zeros(t), np.zeros(t)


def _wave(t: int = 48) -> Motion:
    s, a, x, lift = _frame(t)
    w = 2 * math.pi * s
    a[:, A["r_shoulder"]] = 145 + 8 * np.sin(w)
    a[:, A["r_elbow"]] = 30 + 35 * np.sin(4 * w)  # four waves of the hand per cycle
    a[:, A["l_shoulder"]] = 12 + 4 * np.sin(w)
    a[:, A["l_elbow"]] = 10
    a[:, A["head"]] = -6 * np.sin(w)
    a[:, A["torso"]] = 3 * np.sin(w)
    return Motion("wave", a, x, lift, loop=True)


def _dance(t: int = 48) -> Motion:
    s, a, x, lift = _frame(t)
    w = 2 * math.pi * s
    a[:, A["torso"]] = 12 * np.sin(2 * w)
    a[:, A["head"]] = -8 * np.sin(2 * w)
    a[:, A["l_shoulder"]] = 95 + 55 * np.sin(2 * w)
    a[:, A["l_elbow"]] = 55 + 35 * np.sin(2 * w + 1.0)
    a[:, A["r_shoulder"]] = 95 - 55 * np.sin(2 * w)
    a[:, A["r_elbow"]] = 55 - 35 * np.sin(2 * w + 1.0)
    a[:, A["l_hip"]] = 14 + 12 * np.sin(2 * w)
    a[:, A["l_knee"]] = -18 * (1 + np.sin(2 * w)) / 2
    a[:, A["r_hip"]] = 14 - 12 * np.sin(2 * w)
    a[:, A["r_knee"]] = -18 * (1 - np.sin(2 * w)) / 2
    x[:] = 0.15 * np.sin(w)
    lift[:] = 0.03 * np.abs(np.sin(4 * w))
    return Motion("dance", a, x, lift, loop=True)


def _squat(t: int = 40) -> Motion:
    s, a, x, lift = _frame(t)
    depth = (1 - np.cos(2 * math.pi * s)) / 2  # 0 standing .. 1 lowest
    for side in ("l", "r"):
        a[:, A[f"{side}_hip"]] = 8 + 40 * depth  # knees out, ankles stay under the hips
        a[:, A[f"{side}_knee"]] = -80 * depth
        a[:, A[f"{side}_shoulder"]] = 15 + 70 * depth  # arms out for balance
        a[:, A[f"{side}_elbow"]] = 10 * depth
    return Motion("squat", a, x, lift, loop=True)


def _walk(t: int = 48) -> Motion:
    """A front-facing march across the frame and back: knees lift in turn, arms swing against them."""
    s, a, x, lift = _frame(t)
    w = 2 * math.pi * s
    left_up = np.maximum(0.0, np.sin(4 * w)) ** 2  # four steps; squared: no kink where a foot lands
    right_up = np.maximum(0.0, -np.sin(4 * w)) ** 2
    for side, up, other in (("l", left_up, right_up), ("r", right_up, left_up)):
        a[:, A[f"{side}_hip"]] = 6 + 28 * up
        a[:, A[f"{side}_knee"]] = -62 * up
        a[:, A[f"{side}_shoulder"]] = 12 + 22 * other
        a[:, A[f"{side}_elbow"]] = 20 + 30 * other
    a[:, A["torso"]] = 4 * np.sin(4 * w)
    x[:] = 0.3 * np.sin(w)  # across and back
    return Motion("walk", a, x, lift, loop=True)


def _jump(t: int = 40) -> Motion:
    s, a, x, lift = _frame(t)
    s = np.linspace(0.0, 1.0, t)
    crouch = _smooth(s, [(0, 0), (0.25, 1), (0.4, 0), (0.7, 0), (0.86, 0.7), (1.0, 0)])
    for side in ("l", "r"):
        a[:, A[f"{side}_hip"]] = 6 + 34 * crouch
        a[:, A[f"{side}_knee"]] = -68 * crouch
        a[:, A[f"{side}_shoulder"]] = _smooth(s, [(0, 10), (0.2, -10), (0.5, 160), (0.66, 160), (1, 10)])
        a[:, A[f"{side}_elbow"]] = 10
    lift[:] = _smooth(s, [(0, 0), (0.38, 0), (0.56, 0.22), (0.74, 0), (1.0, 0)])
    return Motion("jump", a, x, lift, loop=False)


def _gymnastics(t: int = 96) -> Motion:
    """Arms up, a side bend each way, a cartwheel to the right, a landing with the arms in a V."""
    _, a, x, lift = _frame(t)
    s = np.linspace(0.0, 1.0, t)
    arms = _smooth(s, [(0, 10), (0.12, 170), (0.8, 170), (0.9, 135), (1, 135)])
    for side in ("l", "r"):
        a[:, A[f"{side}_shoulder"]] = arms
        a[:, A[f"{side}_hip"]] = _smooth(s, [(0, 5), (0.36, 5), (0.42, 38), (0.78, 38), (0.86, 12), (1, 12)])
    a[:, A["torso"]] = _smooth(
        s, [(0, 0), (0.15, 0), (0.22, 28), (0.29, -28), (0.36, 0), (0.8, 360), (1, 360)]
    )
    x[:] = _smooth(s, [(0, -0.25), (0.36, -0.25), (0.8, 0.3), (1, 0.3)])
    return Motion("gymnastics", a, x, lift, loop=False)


TEMPLATES = {
    "wave": _wave,
    "jump": _jump,
    "dance": _dance,
    "squat": _squat,
    "walk": _walk,
    "gymnastics": _gymnastics,
}


def template(name: str, frames: int | None = None) -> Motion:
    """A built-in motion by name, at its own length or resampled to `frames`."""
    if name not in TEMPLATES:
        raise InvalidOptionError(f"unknown motion {name!r}; choose one of: {', '.join(TEMPLATES)}")
    motion = TEMPLATES[name]()
    return motion if frames is None else motion.resample(frames)


def motion_keypoints(
    motion: Motion,
    figure: Figure,
    height: float,
    size=(128, 128),
    x: float | None = None,
    ground: float | None = None,
) -> np.ndarray:
    """Keypoints [T, 17, 2] (pixels) of `figure`, `height` pixels tall, doing `motion` in a frame of
    `size` (H, W): the pelvis starts at column `x` (default: the centre) and the lowest point stands on
    row `ground` (default: GROUND_MARGIN above the bottom) raised by the motion's lift."""
    h, w = size
    x = w / 2.0 if x is None else float(x)
    ground = h * (1.0 - GROUND_MARGIN) if ground is None else float(ground)
    low = lowest_offset(figure, motion.angles, height)  # [T]
    pelvis = np.stack([x + motion.root_x * height, ground - motion.lift * height - low], axis=1)
    return forward(figure, motion.angles, pelvis, height)


def max_height(motion: Motion, figure: Figure, size=(128, 128), largest: float | None = None) -> float:
    """The tallest standing height (pixels, at most `largest`, default 0.8 of the frame height) at which
    `figure` doing `motion` stays inside a frame of `size` with the default placement."""
    from vitascope.synthetic.figures.model import fits_frame

    lo, hi = 8.0, float(largest or 0.8 * size[0])
    if fits_frame(figure, motion_keypoints(motion, figure, hi, size), hi, size):
        return hi
    for _ in range(20):
        mid = (lo + hi) / 2
        if fits_frame(figure, motion_keypoints(motion, figure, mid, size), mid, size):
            lo = mid
        else:
            hi = mid
    return lo


def _standing_units(keypoints: np.ndarray) -> float:
    """A keypoint sequence's standing height (pixels) from its median trunk and leg lengths, by the
    proportions of the default figure (trunk plus leg is 0.73 of the standing height)."""
    ref = Figure((0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0)).normalised()
    neck = (keypoints[:, K["left_shoulder"]] + keypoints[:, K["right_shoulder"]]) / 2
    pelvis = (keypoints[:, K["left_hip"]] + keypoints[:, K["right_hip"]]) / 2
    trunk = np.linalg.norm(neck - pelvis, axis=-1)
    legs = [
        np.linalg.norm(keypoints[:, a] - keypoints[:, b], axis=-1)
        for a, b in ((11, 13), (13, 15), (12, 14), (14, 16))
    ]
    leg = (legs[0] + legs[1] + legs[2] + legs[3]) / 2
    return float(np.median(trunk + leg) / (ref.torso_len + 2 * ref.leg_half))


def keypoints_to_motion(keypoints, name: str = "custom", loop: bool = False) -> Motion:
    """The Motion of a COCO-17 keypoint sequence [T, 17, 2] (pixels; every body joint present): bone
    directions become angles, the pelvis's travel and the lowest point's height become root_x and lift."""
    kp = np.asarray(keypoints, dtype=np.float64)
    kp = kp[None] if kp.ndim == 2 else kp
    if kp.ndim != 3 or kp.shape[1:] != (17, 2) or not np.isfinite(kp).all():
        raise InvalidOptionError(f"keypoints must be finite [T, 17, 2] (COCO-17), got {list(kp.shape)}")
    neck = (kp[:, K["left_shoulder"]] + kp[:, K["right_shoulder"]]) / 2
    pelvis = (kp[:, K["left_hip"]] + kp[:, K["right_hip"]]) / 2
    torso = np.degrees(np.unwrap(np.radians(angle_of(pelvis - neck))))
    ang = np.zeros((len(kp), len(ANGLES)))
    ang[:, A["torso"]] = torso
    ang[:, A["head"]] = wrap_degrees(angle_of(neck - head_centre(kp)) - torso)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        for root, mid, end, first, second in (
            ("shoulder", "elbow", "wrist", "shoulder", "elbow"),
            ("hip", "knee", "ankle", "hip", "knee"),
        ):
            upper = angle_of(kp[:, K[f"{side}_{mid}"]] - kp[:, K[f"{side}_{root}"]])
            lower = angle_of(kp[:, K[f"{side}_{end}"]] - kp[:, K[f"{side}_{mid}"]])
            ang[:, A[f"{side[0]}_{first}"]] = sign * wrap_degrees(upper - torso)
            ang[:, A[f"{side[0]}_{second}"]] = sign * wrap_degrees(lower - upper)
    ang[:, 1:] = np.degrees(np.unwrap(np.radians(ang[:, 1:]), axis=0))
    units = _standing_units(kp)
    low = np.max(kp[:, [K["left_ankle"], K["right_ankle"], K["left_wrist"], K["right_wrist"]], 1], axis=1)
    return Motion(name, ang, (pelvis[:, 0] - pelvis[0, 0]) / units, (low.max() - low) / units, loop)


def retarget(keypoints, figure: Figure, height: float, size=(128, 128), x=None, ground=None) -> np.ndarray:
    """Keypoints [T, 17, 2] of `figure` doing what `keypoints` [T, 17, 2] (anyone's) do: the target's bone
    lengths, the source's joint angles."""
    return motion_keypoints(keypoints_to_motion(keypoints), figure, height, size, x, ground)


def save_motion(motion: Motion, path) -> None:
    """Write a motion as JSON (atomically)."""
    from vitascope.synthetic.figures.posefile import atomic_write_text

    atomic_write_text(path, json.dumps(motion.to_json()))


def load_motion(source, name: str | None = None) -> Motion:
    """A user template: a vitascope motion JSON, or an OpenPose / DWPose keypoint file or folder (see
    posefile), whose keypoints become a Motion (missing points filled)."""
    from pathlib import Path

    from vitascope.synthetic.figures.posefile import _load, fill_missing, read_pose_json

    data = _load(Path(source)) if isinstance(source, (str, Path)) and not Path(source).is_dir() else source
    if isinstance(data, dict) and data.get("format") == "vitascope-motion-1":
        return Motion.from_json(data)
    keypoints, confidence = read_pose_json(data)
    label = name or (Path(source).stem if isinstance(source, (str, Path)) else "custom")
    return keypoints_to_motion(fill_missing(keypoints, confidence), label)


def motion_from_video(frames, name: str = "video") -> Motion:
    """A user template from uint8 frames [T, H, W, 3] of a figure: the analyzer's keypoints, as a Motion."""
    from vitascope.synthetic.figures.analyze import analyze_video

    keypoints, _figure, _height = analyze_video(frames)
    return keypoints_to_motion(keypoints, name)


def motion_for_image(image, motion: Motion, frames: int | None = None, fit=None):
    """Keypoints [T, 17, 2] of the figure in `image` (uint8 [H, W, 3]) doing `motion`: its colours and
    proportions recovered by the analyzer, its pelvis and ground line kept where the image has them.
    Returns (keypoints, FigureFit of the image). fit: the image's FigureFit when already made."""
    from vitascope.synthetic.figures.analyze import fit_figure

    fit = fit_figure(image) if fit is None else fit
    motion = motion.resample(frames) if frames else motion
    f, s, kp = fit.figure, fit.height, fit.keypoints
    ground = max(
        float(kp[[K["left_ankle"], K["right_ankle"]], 1].max()) + f.leg_w / 2 * s,
        float(kp[[K["left_wrist"], K["right_wrist"]], 1].max()) + f.arm_w / 2 * s,
        float(head_centre(kp)[1]) + f.head_r * s,
    )
    x = float(kp[[K["left_hip"], K["right_hip"]], 0].mean()) - motion.root_x[0] * s
    size = np.asarray(image).shape[:2]
    return motion_keypoints(motion, f, s, size, x=x, ground=ground + motion.lift[0] * s), fit
