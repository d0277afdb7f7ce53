"""Reading and writing images and videos (PyAV for video, Pillow for images).

Every write goes to a temporary file in the destination folder and is renamed into place, so a crash never
leaves a half-written output where a finished one was expected.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from vitascope.errors import InputFileError

log = logging.getLogger(__name__)


def _atomic_target(path: Path, suffix: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def write_video(frames: np.ndarray, path: str | Path, fps: int = 24, crf: int = 18) -> Path:
    """Write uint8 frames [F, H, W, 3] as H.264 mp4 (yuv420p; odd sizes are padded by one pixel)."""
    import av

    frames = _check_frames(frames)
    path = Path(path)
    tmp = _atomic_target(path, ".mp4")
    f, h, w, _ = frames.shape
    # yuv420p needs even sizes; pad by edge replication rather than resizing
    ph, pw = h + (h % 2), w + (w % 2)
    if (ph, pw) != (h, w):
        frames = np.pad(frames, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=int(fps))
            stream.width, stream.height, stream.pix_fmt = pw, ph, "yuv420p"
            stream.options = {"crf": str(crf), "preset": "medium"}
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("wrote %s (%d frames %dx%d @ %d fps)", path, f, w, h, fps)
    return path


def write_png_frames(frames: np.ndarray, folder: str | Path) -> Path:
    """Write lossless PNG frames named 00000.png, 00001.png, ... into `folder`."""
    from PIL import Image

    frames = _check_frames(frames)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    digits = max(5, len(str(len(frames))))
    for i, frame in enumerate(frames):
        target = folder / f"{i:0{digits}d}.png"
        tmp = _atomic_target(target, ".png")
        try:
            Image.fromarray(frame).save(tmp, format="PNG")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return folder


def read_video(path: str | Path, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """Decode a video file into uint8 frames [F, H, W, 3] and its frame rate."""
    import av

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"video file not found: {path}")
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 24)
            out = []
            for frame in container.decode(stream):
                out.append(frame.to_ndarray(format="rgb24"))
                if max_frames and len(out) >= max_frames:
                    break
    except (av.error.FFmpegError, IndexError) as e:
        raise InputFileError(f"cannot decode video {path}: {e}") from e
    if not out:
        raise InputFileError(f"video {path} has no decodable frames")
    return np.stack(out), fps


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB [H, W, 3]; a clear error for anything that is not an image."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            im.verify()  # catches truncated and non-image files before decoding
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise InputFileError(f"cannot read image {path}: {e}. Use a PNG, JPEG or WebP file.") from e


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames [F, H, W, 3], got {frames.dtype} {frames.shape}")
    return np.ascontiguousarray(frames)
