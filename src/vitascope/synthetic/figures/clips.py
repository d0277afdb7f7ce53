"""Figure clips for pose training and evaluation: a figure doing a motion, its keypoints and skeleton frames.

`figure_clip(seed, frames, size)` is a pure function of its seed. The motion is a built-in template (as
`vitascope generate --motion` asks for it: `template(name, frames)`, or a stretch of it at another speed and
phase) or a smooth random motion through key poses (`sample_pose`), so a pose model sees both the templates
and poses no template has. The figure stands on the ground line at the centre or shifted sideways, at
75-100% of the tallest height at which the whole motion stays in frame.

Training uses even seeds and evaluation odd ones (`TRAIN`, `EVAL`): figures, motions and backgrounds of the
evaluation set are never trained on.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vitascope.synthetic.figures.model import ANGLES, FIGURE_BACKGROUNDS, Figure, fits_frame, sample_figure
from vitascope.synthetic.figures.motions import TEMPLATES, Motion, max_height, motion_keypoints, template
from vitascope.synthetic.figures.render import draw_skeleton, render_figure

TRAIN, EVAL = 0, 1  # clip seed parity of each split
VERBS = {
    "wave": "waving",
    "jump": "jumping",
    "dance": "dancing",
    "squat": "doing squats",
    "walk": "walking",
    "gymnastics": "doing gymnastics",
    "poses": "moving",
}
BLACK_SHARE = 0.7  # the other backgrounds share the rest


@dataclasses.dataclass
class FigureClip:
    frames: np.ndarray  # uint8 [F, H, W, 3]
    keypoints: np.ndarray  # [F, 17, 2] pixels
    skeleton: np.ndarray  # uint8 [F, H, W, 3], the pose-conditioning frames
    figure: Figure
    height: float  # standing height, pixels
    motion: str  # a template name or "poses"
    background: str

    @property
    def caption(self) -> str:
        return figure_caption(self.motion, self.background)

    def foreground(self) -> np.ndarray:
        """bool [F, H, W]: pixels that differ from the plain background (the figure and its edges)."""
        bg = np.array(FIGURE_BACKGROUNDS[self.background], dtype=np.int16)
        return np.abs(self.frames.astype(np.int16) - bg).max(axis=-1) > 0


def figure_caption(motion: str, background: str = "black") -> str:
    return f"a figure {VERBS.get(motion, 'moving')} on a {background} background"


def split_seed(index: int, split: int) -> int:
    """The clip seed of item `index` of a split (TRAIN even, EVAL odd)."""
    return 2 * int(index) + int(split)


def _random_motion(rng: np.random.Generator, frames: int) -> Motion:
    """Smooth random motion: 2-4 key poses (angles within the poses `sample_pose` draws) joined by smoothstep."""
    from vitascope.synthetic.figures.model import POSE_RANGES

    keys = int(rng.integers(2, 5))
    poses = np.array([[rng.uniform(*POSE_RANGES[n]) for n in ANGLES] for _ in range(keys)])
    s = np.linspace(0.0, keys - 1.0, frames)
    i = np.minimum(s.astype(int), keys - 2)
    u = s - i
    u = u * u * (3 - 2 * u)
    angles = poses[i] + (poses[i + 1] - poses[i]) * u[:, None]
    return Motion("poses", angles, np.zeros(frames), np.zeros(frames), loop=False)


def _template_motion(rng: np.random.Generator, name: str, frames: int) -> Motion:
    """Half the time exactly what `--motion NAME --frames N` asks for; otherwise another speed and phase."""
    if rng.random() < 0.5:
        return template(name, frames)
    base = template(name)
    long = base.resample(int(rng.integers(frames, max(frames + 1, 3 * frames))))
    start = int(rng.integers(0, len(long) - frames + 1))
    sl = slice(start, start + frames)
    return Motion(name, long.angles[sl], long.root_x[sl] - long.root_x[start], long.lift[sl], False)


def _place(rng, motion: Motion, figure: Figure, size) -> tuple[np.ndarray, float]:
    """Keypoints and height: 75-100% of the tallest fit, shifted sideways when it still fits."""
    height = max_height(motion, figure, size) * float(rng.uniform(0.75, 1.0))
    kp = motion_keypoints(motion, figure, height, size)
    shifted = motion_keypoints(motion, figure, height, size, x=size[1] * float(rng.uniform(0.35, 0.65)))
    return (shifted if fits_frame(figure, shifted, height, size) else kp), height


def figure_clip(seed: int, frames: int = 17, size=(64, 64), motion: str | None = None) -> FigureClip:
    """A clip of a random figure doing a template (or random key poses), with its keypoints and skeletons.
    motion: force a template name (or "poses"); default: drawn (each template and "poses" equally)."""
    rng = np.random.default_rng([int(seed), 4242])
    names = (*TEMPLATES, "poses")
    name = motion or names[int(rng.integers(len(names)))]
    others = [b for b in FIGURE_BACKGROUNDS if b != "black"]
    background = "black" if rng.random() < BLACK_SHARE else others[int(rng.integers(len(others)))]
    figure = sample_figure(int(rng.integers(2**31)), background)
    m = _random_motion(rng, frames) if name == "poses" else _template_motion(rng, name, frames)
    kp, height = _place(rng, m, figure, size)
    video = render_figure(figure, kp, height, size, background)
    return FigureClip(video, kp, draw_skeleton(kp, size), figure, height, name, background)
