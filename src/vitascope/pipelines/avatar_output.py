"""Writing an avatar video: H.264 frames as they are decoded, the input audio muxed as AAC, a JSON sidecar.

Frames arrive in chunks (`AvatarPipeline.decode_chunks`), so memory stays bounded whatever the audio length.
The mp4 is written to a temporary file next to the target and renamed at the end: an error at any point leaves
nothing behind.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

from vitascope.io.files import write_json_atomic

log = logging.getLogger(__name__)


def write_avatar_mp4(
    chunks: Iterable[np.ndarray],
    samples: np.ndarray,
    path: str | Path,
    fps: float = 25.0,
    sample_rate: int = 16000,
    crf: int = 18,
) -> tuple[Path, int]:
    """uint8 chunks [f, H, W, 3] + float mono audio [N] -> mp4 (H.264 yuv420p + AAC); returns (path, frames)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".mp4", dir=path.parent)
    os.close(fd)
    tmp, n = Path(name), 0
    try:
        with av.open(str(tmp), mode="w", format="mp4") as out:
            video = None
            for chunk in chunks:
                if video is None:
                    h, w = chunk.shape[1:3]
                    video = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
                    video.width, video.height, video.pix_fmt = w + w % 2, h + h % 2, "yuv420p"
                    video.options = {"crf": str(crf), "preset": "medium"}
                    audio = out.add_stream("aac", rate=sample_rate, layout="mono")
                if chunk.shape[1] % 2 or chunk.shape[2] % 2:
                    chunk = np.pad(
                        chunk, ((0, 0), (0, chunk.shape[1] % 2), (0, chunk.shape[2] % 2), (0, 0)), "edge"
                    )
                for frame in chunk:
                    out.mux(
                        video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24"))
                    )
                n += len(chunk)
            if video is None:
                raise ValueError("no frames to write")
            out.mux(video.encode())
            pcm = np.clip(np.asarray(samples, np.float32).reshape(1, -1), -1.0, 1.0)
            frame = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="mono")
            frame.sample_rate = sample_rate
            frame.pts, frame.time_base = 0, Fraction(1, sample_rate)  # lets the muxer trim the AAC priming
            out.mux(audio.encode(frame))
            out.mux(audio.encode(None))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a video is an ordinary file
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("wrote %s (%d frames @ %g fps, %.2f s of audio)", path, n, fps, samples.size / sample_rate)
    return path, n


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
