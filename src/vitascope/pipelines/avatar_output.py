"""Writing an avatar video: H.264 frames as they are decoded, the input audio muxed as AAC, a JSON sidecar.

Frames arrive in chunks (`AvatarPipeline.decode_chunks`), so memory stays bounded whatever the audio length.
The mp4 is written to a temporary file next to the target and renamed at the end: an error at any point leaves
nothing behind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from vitascope.errors import InvalidOptionError
from vitascope.io.files import write_json_atomic

log = logging.getLogger(__name__)


def write_avatar_mp4(
    chunks: Iterable[np.ndarray],
    samples: np.ndarray,
    path: str | Path,
    fps: float = 25.0,
    sample_rate: int = 16000,
) -> tuple[Path, int]:
    """uint8 chunks [f, H, W, 3] + float mono audio [N] -> mp4 (H.264 + AAC, `media.VideoWriter`: incremental,
    atomic, the audio interleaved and cut at the last frame); returns (path, frames)."""
    from vitascope.media import VideoWriter
    from vitascope.mux import AudioTrack

    if float(fps) != int(fps):
        raise InvalidOptionError(f"the mp4 writer takes whole frame rates, got {fps}")
    with VideoWriter(
        path, fps=int(fps), audio=AudioTrack(np.asarray(samples, np.float32), sample_rate)
    ) as out:
        for chunk in chunks:
            out.write(chunk)
    log.info(
        "wrote %s (%d frames @ %g fps, %.2f s of audio)", path, out.frames, fps, samples.size / sample_rate
    )
    return Path(path), out.frames


def save_avatar(pipe, result, path: str | Path) -> Path:
    """Decode `result` in chunks, write the mp4 with its audio, then the sidecar `<file>.json` (last)."""
    path = Path(path)
    if path.suffix.lower() != ".mp4":
        path = path.with_suffix(".mp4") if path.suffix else path.with_name(path.name + ".mp4")
    chunks = pipe.decode_chunks(result.latents, result.frames)
    path, n = write_avatar_mp4(chunks, result.samples, path, fps=result.fps)
    meta = {**result.metadata, "fps": result.fps, "frames": n, "output": str(path), "audio_muxed": "aac"}
    write_json_atomic(path.with_name(path.name + ".json"), meta)
    return path
