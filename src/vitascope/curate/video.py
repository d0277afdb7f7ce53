"""Probing and decoding for curation: segment reads at a small analysis size (PyAV, resized in swscale)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from vitascope.errors import InputFileError

log = logging.getLogger(__name__)


def probe(path: str | Path) -> dict[str, Any]:
    """fps, width, height, duration (s), frame count and codec of the first video stream.

    Counts frames by demuxing every packet (no decoding): container durations and frame counts are often
    missing or wrong. The first frame is decoded so that a file whose stream cannot be decoded at all fails
    here; damage later in a stream surfaces in shot detection or in the clip it falls into.
    """
    import av

    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputFileError(f"{path} has no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            codec = stream.codec_context.name
            width, height = stream.codec_context.width, stream.codec_context.height
            n = sum(1 for packet in container.demux(stream) if packet.size)
            container.seek(0)
            next(iter(container.decode(stream)), None) or _raise(
                InputFileError(f"{path}: no decodable frame")
            )
    except av.error.FFmpegError as e:
        raise InputFileError(f"cannot decode {path}: {e}") from e
    if n == 0:
        raise InputFileError(f"{path} has no decodable frames")
    if not fps or fps <= 0:
        raise InputFileError(f"{path} has no frame rate")
    return {
        "fps": fps, "width": int(width), "height": int(height), "n_frames": n,
        "duration": n / fps, "codec": codec,
    }  # fmt: skip


def _raise(e: Exception):
    raise e


def analysis_shape(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(w, h) scaled so the longest side is at most max_side, both even."""
    s = min(1.0, max_side / max(width, height))
    return max(2, int(round(width * s / 2)) * 2), max(2, int(round(height * s / 2)) * 2)


def decode_segment(
    path: str | Path, first: int, last: int, fps: float, size: tuple[int, int] | None = None
) -> np.ndarray:
    """Frames first..last-1 (frame indices) as uint8 [F, H, W, 3], resized to size=(w, h) if given."""
    import av

    frames = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            tb = float(stream.time_base)
            t0 = float(stream.start_time or 0) * tb
            if first > 0:  # seek to the keyframe before the segment, then decode forward
                container.seek(int((t0 + first / fps) / tb), stream=stream, backward=True)
            for frame in container.decode(stream):
                idx = int(round(((frame.pts or 0) * tb - t0) * fps))
                if idx < first:
                    continue
                if idx >= last:
                    break
                if size is not None:
                    frame = frame.reformat(width=size[0], height=size[1])
                frames.append(frame.to_ndarray(format="rgb24"))
    except av.error.FFmpegError as e:
        raise InputFileError(f"cannot decode frames {first}-{last} of {path}: {e}") from e
    if not frames:
        raise InputFileError(f"no frames decoded in {first}-{last} of {path}")
    return np.stack(frames)


def luma(frames: np.ndarray) -> np.ndarray:
    """uint8 RGB [..., 3] -> float32 luma (BT.601) on the 0-255 scale."""
    f = frames.astype(np.float32)
    return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def even_indices(n: int, k: int) -> np.ndarray:
    """k indices spread evenly over range(n) (all of them if n <= k)."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(int))
