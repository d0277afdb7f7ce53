"""Pose-driven jobs on the server: the motion templates with their previews, and checks of the uploads (a
keypoint JSON, a video of a figure, the figure in the input image) made at submit time, so a bad upload is a
422 now rather than a failed job later."""

from __future__ import annotations

import functools
import io
import json
import os
import tempfile

import numpy as np

from vitascope.errors import InputFileError, InvalidOptionError

POSE_FILES = ("pose_json", "pose_video")
PREVIEW_SIZE = 96
PREVIEW_FRAMES = 24


def is_pose_model(pipe) -> bool:
    """Whether the served pipeline's DiT follows motions (has the pose modules)."""
    from vitascope.models.pose import PoseDiT

    return isinstance(getattr(pipe, "dit", None), PoseDiT)


def motions() -> list[dict]:
    """The built-in templates: name, own length, whether it loops, and its preview URL."""
    from vitascope.synthetic.figures import TEMPLATES, template

    out = []
    for name in TEMPLATES:
        m = template(name)
        out.append(
            {"name": name, "frames": len(m), "loop": m.loop, "preview_url": f"/v1/motions/{name}/preview.gif"}
        )
    return out


@functools.lru_cache(maxsize=16)
def preview_gif(name: str) -> bytes:
    """An animated GIF of a standard figure's skeleton doing template `name` (InvalidOptionError if unknown)."""
    from PIL import Image

    from vitascope.synthetic.figures import Figure, draw_skeleton, max_height, motion_keypoints, template

    motion = template(name, PREVIEW_FRAMES)
    figure = Figure((0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0)).normalised()
    size = (PREVIEW_SIZE, PREVIEW_SIZE)
    h = max_height(motion, figure, size)
    frames = draw_skeleton(motion_keypoints(motion, figure, h, size), size)
    images = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=125, loop=0)
    return buf.getvalue()


def check_pose_json(data: bytes) -> bytes:
    """A keypoint JSON upload (OpenPose/DWPose layout, a list of frames or {"frames": [...]}, or a
    vitascope motion): parsed and turned into a motion here; returns the bytes to store."""
    from vitascope.synthetic.figures import load_motion

    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputFileError(f"the upload in field 'pose_json' is not JSON ({e})") from e
    load_motion(parsed, "upload")  # InvalidOptionError names what is missing
    return data


def check_pose_video(data: bytes, max_frames: int) -> None:
    """A video upload of a figure: it decodes (PyAV) and its first frame shows a figure the analyzer finds."""
    from vitascope.media import read_video
    from vitascope.synthetic.figures import fit_figure

    fd, tmp = tempfile.mkstemp(prefix="vitascope-pose-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            frames, _ = read_video(tmp, max_frames=max_frames)
        except InputFileError as e:  # the temporary name means nothing to the client
            raise InputFileError(str(e).replace(tmp, "the uploaded pose video")) from e
    finally:
        os.unlink(tmp)
    try:
        fit_figure(frames[0])
    except InvalidOptionError as e:
        raise InvalidOptionError(f"the pose video's first frame shows no figure: {e}") from e


def check_figure(pixels: np.ndarray, height: int | None, width: int | None) -> None:
    """The input image shows a figure the analyzer finds, at the size the model will see it."""
    from vitascope.models.image import resize_and_crop
    from vitascope.synthetic.figures import fit_figure

    if height and width:
        pixels = np.ascontiguousarray(resize_and_crop(pixels, height, width, "stretch"))
    try:
        fit_figure(pixels)
    except InvalidOptionError as e:
        raise InvalidOptionError(f"no figure to animate in the image: {e}") from e
