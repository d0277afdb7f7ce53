"""Autoregressive continuation: a video's last frame is the clean first frame of an I2V generation (token
replace), and the new frames follow the original ones.

The generation's frame 0 re-draws the condition frame, so it is dropped: the output is the original video
followed by exactly `new_frames` new frames. Longer continuations run in context windows (pipelines/long.py),
each with that last frame as its condition.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from pathlib import Path

import numpy as np

from vitascope.errors import InvalidOptionError
from vitascope.pipelines.options import GenerationOptions

log = logging.getLogger(__name__)


def generation_frames(new_frames: int, temporal: int = 4) -> int:
    """Frames to generate for `new_frames` new ones: the condition frame plus a whole number of latents."""
    if new_frames < 1:
        raise InvalidOptionError(f"--frames (new frames) must be >= 1, got {new_frames}")
    return temporal * -(-new_frames // temporal) + 1


def extend_video(pipe, video: np.ndarray, options: GenerationOptions, new_frames: int, progress=None):
    """video: uint8 [F, H, W, 3]; options: prompt, seed, steps... (task, image, size and frames are set here).

    Returns (uint8 [F + new_frames, H, W, 3], the generation's metadata).
    """
    if "i2v" not in pipe.tasks or pipe.i2v_mode != "token_replace":
        raise InvalidOptionError("extend needs a model that does image-to-video by token replace")
    F, H, W, _ = video.shape
    if H % 16 or W % 16:
        raise InvalidOptionError(
            f"the video is {W}x{H}; extend needs a width and height that are multiples of 16"
        )
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="vitascope-extend-") as tmp:
        last = Path(tmp) / "last.png"
        Image.fromarray(video[-1]).save(last)
        opts = dataclasses.replace(
            options,
            task="i2v",
            image=str(last),
            height=H,
            width=W,
            frames=generation_frames(new_frames, pipe.latent_scale[0]),
        )
        result = pipe.generate(opts, progress=progress)
    new = result.frames[1 : 1 + new_frames]  # frame 0 re-draws the condition frame
    log.info("extended %d frames by %d", F, len(new))
    meta = {**result.metadata, "source_frames": F, "new_frames": len(new), "condition": "last frame"}
    return np.concatenate([video, new]), meta
