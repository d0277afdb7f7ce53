"""Pose-driven image-to-video: the figure in the input image does a motion template, a keypoint JSON's
motion, or the motion of a figure in a video.

The motion source is one of three `GenerationOptions.extra` entries (so the CLI, the Python API and the HTTP
API share it): "motion" (a template name, `synthetic.figures.TEMPLATES`), "pose_json" (an OpenPose/DWPose
keypoint file or folder) or "pose_video" (a video of a figure, read by the figure analyzer). `pose_inputs`
then, for the exact pixels the model sees:

1. fits the articulated figure to the image (its colours, proportions, height and pose);
2. retargets the motion to it (its bones, the motion's joint angles; feet on its ground line), easing in from
   the image's own pose over the first frames;
3. draws the skeleton frames and encodes them with the pipeline's VAE, scaled like video latents:
   `{"pose_latents": [1, C, T, h, w]}`, the per-frame input the sampler gives the pose DiT (`sample_dit`'s
   frame_inputs, cut to each window for long videos).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vitascope.errors import InputFileError, InvalidOptionError

log = logging.getLogger(__name__)

MOTION_KEYS = ("motion", "pose_json", "pose_video")
EASE_FRAMES = 4  # frames over which the motion takes over from the image's own pose
MAX_POSE_VIDEO_FRAMES = 257  # frames of a pose video read (the analyzer takes ~0.5 s each)


@dataclass
class PoseDrive:
    keypoints: np.ndarray  # [F, 17, 2] pixels of the generated size: the pose of each frame
    skeleton: np.ndarray  # uint8 [F, H, W, 3]
    source: str  # "motion:wave", "pose_json:FILE", "pose_video:FILE"
    figure_height: float  # standing height (pixels) of the figure found in the image
    background: str  # the image's plain background, by name

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "figure_height": round(self.figure_height, 2),
            "background": self.background,
            "keypoints": np.round(self.keypoints, 2).tolist(),
        }


def motion_source(extra: dict) -> tuple[str, str] | None:
    """(kind, value) of the motion asked for in `extra`, checked (one source, a known template, an existing
    file); None when the request is not pose-driven."""
    given = [(k, extra[k]) for k in MOTION_KEYS if extra.get(k)]
    if not given:
        return None
    if len(given) > 1:
        raise InvalidOptionError(
            f"give one motion source, not {' and '.join('--' + k.replace('_', '-') for k, _ in given)}"
        )
    kind, value = given[0]
    if kind == "motion":
        from vitascope.synthetic.figures import TEMPLATES

        if value not in TEMPLATES:
            raise InvalidOptionError(f"unknown motion {value!r}; choose one of: {', '.join(TEMPLATES)}")
    elif not Path(value).exists():
        raise InputFileError(f"{kind.replace('_', ' ')} not found: {value}")
    return kind, str(value)


def load_drive_motion(kind: str, value: str, frames: int):
    """The Motion of a source, `frames` long: templates loop or stretch; a keypoint file or a video is
    taken from its start (stretched when shorter)."""
    from vitascope.synthetic.figures import load_motion, motion_from_video, template

    if kind == "motion":
        return template(value, frames)
    if kind == "pose_json":
        motion = load_motion(value)
    else:
        from vitascope.media import read_video

        video, _fps = read_video(value, max_frames=min(frames, MAX_POSE_VIDEO_FRAMES))
        motion = motion_from_video(video, Path(value).stem)
    if len(motion) >= frames:
        from vitascope.synthetic.figures import Motion

        return Motion(
            motion.name, motion.angles[:frames], motion.root_x[:frames], motion.lift[:frames], False
        )
    motion.loop = False
    return motion.resample(frames)


def ease_in(motion, start_angles: np.ndarray, frames: int = EASE_FRAMES):
    """The motion with its first `frames` frames blended from `start_angles` [10] (smoothstep, by the shorter
    way round each angle), so the clip starts in the image's own pose."""
    from vitascope.synthetic.figures.model import wrap_degrees

    angles = motion.angles.copy()
    n = min(frames, len(angles))
    for k in range(n):
        u = k / frames
        u = u * u * (3 - 2 * u)
        angles[k] = start_angles + u * wrap_degrees(angles[k] - start_angles)
    motion.angles = angles
    return motion


def background_name(image: np.ndarray) -> str:
    """The figure world's background nearest to the image's median border colour."""
    from vitascope.synthetic.figures import FIGURE_BACKGROUNDS

    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.float64)
    med = np.median(border, axis=0)
    return min(FIGURE_BACKGROUNDS, key=lambda n: float(np.linalg.norm(med - FIGURE_BACKGROUNDS[n])))


def drive_for_image(pixels: np.ndarray, kind: str, value: str, frames: int) -> PoseDrive:
    """Keypoints and skeleton frames of the figure in `pixels` (uint8 [H, W, 3], the generated size) doing
    the motion of a source."""
    from vitascope.synthetic.figures import draw_skeleton, fit_figure, keypoints_to_motion, motion_for_image

    fit = fit_figure(pixels)  # InvalidOptionError when there is no figure to find
    motion = load_drive_motion(kind, value, frames)
    start = keypoints_to_motion(fit.keypoints[None]).angles[0]
    kp, _ = motion_for_image(pixels, ease_in(motion, start), fit=fit)
    h, w = pixels.shape[:2]
    return PoseDrive(
        kp, draw_skeleton(kp, (h, w)), f"{kind}:{value}", float(fit.height), background_name(pixels)
    )


def require_pose_model(dit) -> None:
    from vitascope.models.pose import PoseDiT

    if not isinstance(dit, PoseDiT):
        raise InvalidOptionError(
            "this model has no pose modules (pose_in, pose_proj), so it cannot follow a motion: leave out "
            "--model for the bundled pose model, or train one with `vitascope train --recipe demo-pose`"
        )


@torch.no_grad()
def pose_inputs(pipe, opts, image: np.ndarray) -> tuple[dict[str, torch.Tensor], PoseDrive]:
    """({"pose_latents": [1, C, T, h, w]}, the drive) for a pose-driven request `opts` on `image`."""
    from vitascope.models.image import resize_and_crop

    source = motion_source(opts.extra)
    require_pose_model(pipe.dit)
    pixels = resize_and_crop(image, opts.height, opts.width, "stretch")  # what the VAE encodes
    drive = drive_for_image(np.ascontiguousarray(pixels), *source, opts.frames)
    x = torch.from_numpy(drive.skeleton).to(pipe.device).permute(3, 0, 1, 2)[None]  # [1, 3, F, H, W]
    x = x.to(pipe.dtype) / 127.5 - 1.0
    z = pipe.vae.encode(x, tiling=pipe.tiling()).float() * pipe.vae.config.scaling_factor
    log.info("pose drive %s: figure %.1f px tall", drive.source, drive.figure_height)
    return {"pose_latents": z}, drive
