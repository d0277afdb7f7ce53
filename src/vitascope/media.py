"""Reading and writing images and videos (PyAV for video and audio, Pillow for images).

Videos are written incrementally: `VideoWriter` and `PngFolderWriter` take frames chunk by chunk, so a caller
that decodes window by window never holds the whole video. Every file is written under a temporary name in
its destination folder and renamed into place when complete (`atomic_path`), so a crash never leaves a
half-written output where a finished one was expected.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from vitascope.errors import InputFileError, InvalidOptionError
from vitascope.io.files import atomic_path, temp_beside
from vitascope.mux import AudioInput, AudioMuxer

log = logging.getLogger(__name__)


class VideoWriter:
    """H.264 mp4 (yuv420p) written chunk by chunk, optionally with an AAC audio track; atomic on `close()`.

    Use as a context manager: an exception inside the block discards the partial file. Odd frame sizes are
    padded by one pixel (edge replication), as yuv420p needs even sizes. The audio (a file or float PCM, see
    `vitascope.mux`) is cut or padded with silence to the video's length, and interleaved as frames arrive.
    """

    def __init__(self, path: str | Path, fps: int = 24, crf: int = 18, audio: AudioInput | None = None):
        self.path, self.fps, self.crf = Path(path), int(fps), int(crf)
        self.frames = 0
        self._audio_input = audio
        self._audio: AudioMuxer | None = None
        self._tmp = temp_beside(self.path, ".mp4")
        self._container = None
        self._stream = None
        self._size: tuple[int, int] | None = None  # (H, W) of the input frames

    def write(self, frames: np.ndarray) -> None:
        """Append uint8 frames [f, H, W, 3] (every chunk the same size)."""
        import av

        frames = _check_frames(frames)
        if self._container is None:
            self._open(frames.shape[1], frames.shape[2])
        if frames.shape[1:3] != self._size:
            raise InvalidOptionError(f"frame size changed from {self._size} to {frames.shape[1:3]}")
        h, w = self._size
        pad = ((0, 0), (0, h % 2), (0, w % 2), (0, 0))
        if h % 2 or w % 2:
            frames = np.pad(frames, pad, mode="edge")
        for frame in frames:
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = self.frames
            self._mux(self._stream.encode(picture))
            self.frames += 1
        if self._audio is not None:
            self._mux(self._audio.encode_until(self.frames / self.fps))

    def close(self) -> Path:
        """Flush the encoders, finish the audio at the video's length and move the file into place."""
        if self._container is None:
            self.abort()
            raise InvalidOptionError(f"no frames were written to {self.path}")
        self._mux(self._stream.encode())
        if self._audio is not None:
            self._mux(self._audio.finish(self.frames / self.fps))
        self._container.close()
        self._container = None
        os.replace(self._tmp, self.path)
        h, w = self._size
        log.info("wrote %s (%d frames %dx%d @ %d fps)", self.path, self.frames, w, h, self.fps)
        return self.path

    def abort(self) -> None:
        """Drop the partial file (nothing is left at `path` or beside it)."""
        if self._audio is not None:
            self._audio.close()
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def _open(self, h: int, w: int) -> None:
        import av

        self._size = (h, w)
        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        self._stream = self._container.add_stream("libx264", rate=self.fps)
        self._stream.width, self._stream.height, self._stream.pix_fmt = w + w % 2, h + h % 2, "yuv420p"
        self._stream.options = {"crf": str(self.crf), "preset": "medium"}
        if self._audio_input is not None:
            self._audio = AudioMuxer(self._container, self._audio_input)

    def _mux(self, packets: Any) -> None:
        for packet in packets:
            self._container.mux(packet)


class PngFolderWriter:
    """Lossless PNG frames named 00000.png, 00001.png, ... written chunk by chunk (each file atomically)."""

    def __init__(self, folder: str | Path, total: int | None = None):
        self.path = Path(folder)
        self.frames = 0
        self._digits = max(5, len(str(total or 0)))

    def write(self, frames: np.ndarray) -> None:
        from PIL import Image

        self.path.mkdir(parents=True, exist_ok=True)
        for frame in _check_frames(frames):
            with atomic_path(self.path / f"{self.frames:0{self._digits}d}.png", ".png") as tmp:
                Image.fromarray(frame).save(tmp, format="PNG")
            self.frames += 1

    def close(self) -> Path:
        return self.path

    def abort(self) -> None:
        """Frames already written stay (each is complete); the caller's sidecar is never written."""

    def __enter__(self) -> PngFolderWriter:
        return self

    def __exit__(self, kind, value, tb) -> None:
        self.close()


def write_video(
    frames: np.ndarray, path: str | Path, fps: int = 24, crf: int = 18, audio: AudioInput | None = None
) -> Path:
    """Write uint8 frames [F, H, W, 3] as H.264 mp4, with an optional audio track (see `VideoWriter`)."""
    with VideoWriter(path, fps=fps, crf=crf, audio=audio) as writer:
        writer.write(frames)
    return writer.path


def write_png_frames(frames: np.ndarray, folder: str | Path) -> Path:
    """Write lossless PNG frames named 00000.png, 00001.png, ... into `folder`."""
    with PngFolderWriter(folder, total=len(frames)) as writer:
        writer.write(frames)
    return writer.path


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


def as_pixels(image: Any) -> np.ndarray:
    """A PIL image or a uint8 array [H, W, 3] as a uint8 RGB array (no copy for an array); else an error."""
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image, without importing PIL here
        return np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
            raise InvalidOptionError(
                f"an image given as pixels must be a uint8 array [H, W, 3] (RGB), got {image.dtype} "
                f"{tuple(image.shape)}; convert it with np.asarray(pil_image.convert('RGB'))"
            )
        return image
    raise InvalidOptionError(
        f"image must be a file path, a PIL image or a uint8 array [H, W, 3], got {type(image).__name__}"
    )


def load_image(image: str | Path | np.ndarray | Any) -> np.ndarray:
    """An image option (a path, a PIL image or pixels) as uint8 RGB [H, W, 3]."""
    if isinstance(image, (str, Path)):
        return read_image(image)
    return as_pixels(image)


def to_uint8(video: np.ndarray) -> np.ndarray:
    """float frames in [0, 1] -> uint8, rounded (not truncated)."""
    return (video * 255.0).round().clip(0, 255).astype(np.uint8)


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames [F, H, W, 3], got {frames.dtype} {frames.shape}")
    return np.ascontiguousarray(frames)
