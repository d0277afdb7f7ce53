"""The articulated figure: parts, proportions, colours, joint angles and forward kinematics.

A figure faces the camera: head (a disc on a short neck), torso (a trapezoid from the shoulder line to the
hip line), two arms and two legs (two capsules each, upper and lower halves of equal length). Its keypoints
follow COCO-17 order; the face points (nose, eyes, ears) are fixed places on the head disc. "Left" is the
figure's own left, which is the image right when it stands upright.

Angles (degrees) are those of ANGLES. Directions in the image (x right, y down) are dir(phi) = (sin phi,
cos phi): phi = 0 points down, +90 points image right. The torso's down direction is dir(torso); its left
is dir(torso + 90). A left limb's upper half points dir(torso + l_shoulder) and its lower half adds
l_elbow; a right limb is mirrored (dir(torso - r_shoulder), then - r_elbow), so the same angle raises
either arm outward. All angles 0 is standing straight with the arms hanging down.

Proportions are fractions of the standing height H (head top to the soles with every angle 0):
2 head_r + neck + torso_len + 2 leg_half + leg_w / 2 = 1.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vitascope.errors import InvalidOptionError

KEYPOINTS = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
K = {name: i for i, name in enumerate(KEYPOINTS)}
# Bones of the skeleton drawing (COCO pairs plus the shoulder-hip lines), left side first per pair.
BONES = (
    (5, 7), (7, 9), (6, 8), (8, 10),  # arms
    (11, 13), (13, 15), (12, 14), (14, 16),  # legs
    (5, 6), (11, 12), (5, 11), (6, 12),  # torso
    (0, 1), (0, 2), (1, 3), (2, 4),  # face
)  # fmt: skip
ANGLES = (
    "torso",
    "head",
    "l_shoulder",
    "l_elbow",
    "r_shoulder",
    "r_elbow",
    "l_hip",
    "l_knee",
    "r_hip",
    "r_knee",
)
A = {name: i for i, name in enumerate(ANGLES)}
ROLES = ("head", "torso", "arms", "legs")
# Part colours: well separated, saturated or clearly light/dark, none close to a plain background.
PALETTE: dict[str, tuple[int, int, int]] = {
    "skin": (240, 190, 150),
    "red": (220, 40, 40),
    "orange": (245, 140, 30),
    "yellow": (240, 225, 50),
    "green": (40, 190, 70),
    "teal": (30, 170, 170),
    "blue": (50, 90, 235),
    "purple": (150, 60, 200),
    "pink": (240, 120, 200),
    "brown": (140, 80, 40),
}
FIGURE_BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "gray": (128, 128, 128),
    "navy": (20, 30, 80),
}
MIN_COLOUR_DISTANCE = 90.0  # RGB distance between any two parts, and a part and the background
# Ranges of the proportions drawn by sample_figure (before normalising to H = 1).
RANGES = {
    "head_r": (0.065, 0.085),
    "neck": (0.015, 0.03),
    "torso_len": (0.26, 0.32),
    "shoulder_w": (0.17, 0.23),
    "hip_w": (0.09, 0.13),
    "arm_half": (0.15, 0.19),
    "leg_half": (0.2, 0.24),
    "arm_w": (0.045, 0.06),
    "leg_w": (0.055, 0.075),
}
PROPORTIONS = tuple(RANGES)


def direction(phi_deg) -> np.ndarray:
    """dir(phi) = (sin phi, cos phi) for angles in degrees, [..., 2]."""
    phi = np.radians(np.asarray(phi_deg, dtype=np.float64))
    return np.stack([np.sin(phi), np.cos(phi)], axis=-1)


def angle_of(vec) -> np.ndarray:
    """Inverse of `direction`: the angle (degrees) of vectors [..., 2]."""
    vec = np.asarray(vec, dtype=np.float64)
    return np.degrees(np.arctan2(vec[..., 0], vec[..., 1]))


def wrap_degrees(a) -> np.ndarray:
    return (np.asarray(a, dtype=np.float64) + 180.0) % 360.0 - 180.0


@dataclasses.dataclass(frozen=True)
class Figure:
    """Colours (RGB per role) and proportions (fractions of the standing height) of one figure."""

    head: tuple[int, int, int]
    torso: tuple[int, int, int]
    arms: tuple[int, int, int]
    legs: tuple[int, int, int]
    head_r: float = 0.075
    neck: float = 0.02
    torso_len: float = 0.29
    shoulder_w: float = 0.2
    hip_w: float = 0.11
    arm_half: float = 0.17
    leg_half: float = 0.22
    arm_w: float = 0.05
    leg_w: float = 0.065

    def __post_init__(self):
        for role in ROLES:
            rgb = tuple(int(v) for v in getattr(self, role))
            if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                raise InvalidOptionError(f"figure {role} colour must be three 0..255 values, got {rgb}")
            object.__setattr__(self, role, rgb)
        for name in PROPORTIONS:
            value = float(getattr(self, name))
            if not 0.0 < value < 0.6:
                raise InvalidOptionError(f"figure proportion {name}={value} must be in (0, 0.6)")
            object.__setattr__(self, name, value)

    @property
    def standing_height(self) -> float:
        """Head top to soles with every angle 0, in units of H (1 for normalised figures)."""
        return 2 * self.head_r + self.neck + self.torso_len + 2 * self.leg_half + self.leg_w / 2

    def colours(self) -> dict[str, tuple[int, int, int]]:
        return {role: getattr(self, role) for role in ROLES}

    def normalised(self) -> Figure:
        """The same figure with proportions rescaled so the standing height is exactly 1."""
        k = 1.0 / self.standing_height
        return dataclasses.replace(self, **{p: getattr(self, p) * k for p in PROPORTIONS})


def _distinct(colours, candidate, background) -> bool:
    c = np.array(candidate, dtype=np.float64)
    others = [np.array(x, dtype=np.float64) for x in (*colours, background)]
    return all(np.linalg.norm(c - o) >= MIN_COLOUR_DISTANCE for o in others)


def sample_figure(seed: int, background: str = "black") -> Figure:
    """A figure drawn from `seed`: four distinct part colours that stand out from `background`, and
    proportions drawn within RANGES (normalised to a standing height of 1)."""
    if background not in FIGURE_BACKGROUNDS:
        raise InvalidOptionError(
            f"unknown figure background {background!r}; choose one of: {', '.join(FIGURE_BACKGROUNDS)}"
        )
    rng = np.random.default_rng([seed, 17])
    bg = FIGURE_BACKGROUNDS[background]
    names = list(PALETTE)
    colours: list[tuple[int, int, int]] = []
    for _role in ROLES:
        options = [PALETTE[n] for n in names if _distinct(colours, PALETTE[n], bg)]
        if not options:
            raise InvalidOptionError(f"no four distinct part colours on a {background} background")
        colours.append(options[int(rng.integers(len(options)))])
    sizes = {name: float(rng.uniform(*lohi)) for name, lohi in RANGES.items()}
    return Figure(*colours, **sizes).normalised()


def forward(figure: Figure, angles, pelvis, height: float) -> np.ndarray:
    """Keypoints [..., 17, 2] in pixels of `figure` with `angles` [..., 10] (degrees, ANGLES order), its
    pelvis (mid-hip point) at `pelvis` [..., 2] and a standing height of `height` pixels."""
    ang = np.asarray(angles, dtype=np.float64)
    pelvis = np.asarray(pelvis, dtype=np.float64)
    f, s = figure, float(height)
    t = ang[..., A["torso"]]
    down, left = direction(t), direction(t + 90.0)
    neck = pelvis - f.torso_len * s * down
    out = np.zeros(ang.shape[:-1] + (17, 2))
    for side, sign in (("left", 1.0), ("right", -1.0)):
        p = side[0]
        shoulder = neck + sign * f.shoulder_w / 2 * s * left
        hip = pelvis + sign * f.hip_w / 2 * s * left
        a1 = t + sign * ang[..., A[f"{p}_shoulder"]]
        elbow = shoulder + f.arm_half * s * direction(a1)
        wrist = elbow + f.arm_half * s * direction(a1 + sign * ang[..., A[f"{p}_elbow"]])
        l1 = t + sign * ang[..., A[f"{p}_hip"]]
        knee = hip + f.leg_half * s * direction(l1)
        ankle = knee + f.leg_half * s * direction(l1 + sign * ang[..., A[f"{p}_knee"]])
        for name, xy in (("shoulder", shoulder), ("elbow", elbow), ("wrist", wrist)):
            out[..., K[f"{side}_{name}"], :] = xy
        for name, xy in (("hip", hip), ("knee", knee), ("ankle", ankle)):
            out[..., K[f"{side}_{name}"], :] = xy
    head_dir = t + ang[..., A["head"]]
    centre = neck - (f.neck + f.head_r) * s * direction(head_dir)
    out[..., :5, :] = face_points(centre, f.head_r * s, head_dir)
    return out


def face_points(centre, radius, head_dir) -> np.ndarray:
    """Nose, eyes and ears [..., 5, 2] on a head disc: `head_dir` (degrees) points from the head centre
    towards the neck. The nose sits 0.15 r below the centre, the eyes 0.2 r above and 0.35 r to each side,
    the ears on the rim (0.95 r to each side)."""
    centre = np.asarray(centre, dtype=np.float64)
    r = np.asarray(radius, dtype=np.float64)[..., None]
    d, left = direction(head_dir), direction(np.asarray(head_dir) + 90.0)
    pts = [
        centre + 0.15 * r * d,
        centre - 0.2 * r * d + 0.35 * r * left,
        centre - 0.2 * r * d - 0.35 * r * left,
        centre + 0.95 * r * left,
        centre - 0.95 * r * left,
    ]
    return np.stack(pts, axis=-2)


def head_centre(keypoints) -> np.ndarray:
    """Centre of the head disc [..., 2] from keypoints (the mid-point of the ears)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    return (kp[..., K["left_ear"], :] + kp[..., K["right_ear"], :]) / 2.0


def lowest_offset(figure: Figure, angles, height: float) -> np.ndarray:
    """How far below the pelvis the lowest point of the figure lies [...] (pixels): ankles and wrists
    (plus the limb's half width) and the head top, so a pose can be stood on a ground line."""
    kp = forward(figure, angles, np.zeros(np.shape(angles)[:-1] + (2,)), height)
    s = float(height)
    ends = np.concatenate(
        [
            kp[..., [15, 16], 1] + figure.leg_w / 2 * s,
            kp[..., [9, 10], 1] + figure.arm_w / 2 * s,
            head_centre(kp)[..., 1:2] + figure.head_r * s,
        ],
        axis=-1,
    )
    return ends.max(axis=-1)


def figure_height_px(keypoints, figure: Figure) -> float:
    """The standing height in pixels implied by keypoints of `figure` (from its thighs and shins)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    legs = [
        np.linalg.norm(kp[..., a, :] - kp[..., b, :], axis=-1)
        for a, b in ((11, 13), (13, 15), (12, 14), (14, 16))
    ]
    return float(np.median(np.stack(legs)) / figure.leg_half)


__all__ = [
    "fits_frame",
    "sample_pose",
    "POSE_RANGES",
    "K",
    "A",
    "ANGLES",
    "BONES",
    "FIGURE_BACKGROUNDS",
    "KEYPOINTS",
    "PALETTE",
    "ROLES",
    "Figure",
    "angle_of",
    "direction",
    "face_points",
    "forward",
    "head_centre",
    "lowest_offset",
    "sample_figure",
    "wrap_degrees",
]


# Ranges of sample_pose (degrees): arms anywhere from down to up, limbs never folded past 120 degrees.
POSE_RANGES = {
    "torso": (-25.0, 25.0),
    "head": (-15.0, 15.0),
    "l_shoulder": (-30.0, 170.0),
    "l_elbow": (-120.0, 120.0),
    "r_shoulder": (-30.0, 170.0),
    "r_elbow": (-120.0, 120.0),
    "l_hip": (-15.0, 70.0),
    "l_knee": (-100.0, 100.0),
    "r_hip": (-15.0, 70.0),
    "r_knee": (-100.0, 100.0),
}


def fits_frame(figure: Figure, keypoints, height: float, size, margin: float = 1.0) -> bool:
    """Every part of the figure (keypoints [..., 17, 2] plus half widths) inside the frame."""
    kp = np.asarray(keypoints, dtype=np.float64)
    pad = (max(figure.arm_w, figure.leg_w) / 2 + 0.01) * height + margin
    head = head_centre(kp)
    r = figure.head_r * height + margin
    h, w = size
    body_ok = (
        (kp[..., 5:, :] >= pad).all()
        and (kp[..., 5:, 0] <= w - pad).all()
        and (kp[..., 5:, 1] <= h - pad).all()
    )
    head_ok = (head >= r).all() and (head[..., 0] <= w - r).all() and (head[..., 1] <= h - r).all()
    return bool(body_ok and head_ok)


def sample_pose(seed: int, figure: Figure, height: float, size=(128, 128)) -> tuple[np.ndarray, np.ndarray]:
    """Angles [10] drawn within POSE_RANGES and a pelvis [2] (pixels) that keeps the figure in the frame."""
    rng = np.random.default_rng([seed, 29])
    for _ in range(200):
        angles = np.array([rng.uniform(*POSE_RANGES[name]) for name in ANGLES])
        rel = forward(figure, angles, np.zeros(2), height)
        lo = rel.min(0) - (figure.head_r + 0.05) * height
        hi = rel.max(0) + (figure.head_r + 0.05) * height
        span_lo, span_hi = -lo, np.array([size[1], size[0]]) - hi
        if (span_hi > span_lo).all():
            pelvis = rng.uniform(span_lo, span_hi)
            if fits_frame(figure, forward(figure, angles, pelvis, height), height, size):
                return angles, pelvis
    raise InvalidOptionError(f"a figure {height} pixels tall does not fit a {size[0]}x{size[1]} frame")
