"""Writing a result: H.264 mp4 (optionally with an audio track) or a folder of lossless PNGs, plus a JSON
sidecar with every setting.

`write_stream` takes uint8 chunks as the decoder yields them, so the whole video is never in memory;
`save_result` writes a result that was generated in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from vitascope.errors import InvalidOptionError
from vitascope.io.files import write_json_atomic
from vitascope.media import PngFolderWriter, VideoWriter
from vitascope.mux import AudioInput, AudioTrack
from vitascope.pipelines.result import GenerationResult

log = logging.getLogger(__name__)


def output_target(path: str | Path) -> tuple[Path, bool]:
    """(path, is_folder): a path ending in '/' (or an existing folder) is a PNG folder, anything else an
    mp4 (the suffix is set to .mp4)."""
    is_folder = str(path).endswith(("/", "\\")) or Path(path).is_dir()
    path = Path(path)
    if not is_folder and path.suffix.lower() != ".mp4":
        path = path.with_suffix(".mp4") if path.suffix else path.with_name(path.name + ".mp4")
    return path, is_folder


def sidecar_path(path: Path, is_folder: bool) -> Path:
    return path / "metadata.json" if is_folder else path.with_name(path.name + ".json")


def write_stream(
    chunks: Iterable[np.ndarray],
    path: str | Path,
    *,
    fps: int,
    audio: AudioInput | None = None,
    total: int | None = None,
) -> tuple[Path, int]:
    """Write uint8 chunks [f, H, W, 3] as they come; returns (path, frames written). Atomic for mp4."""
    path, is_folder = output_target(path)
    if is_folder and audio is not None:
        raise InvalidOptionError("an audio track needs an .mp4 output, not a PNG folder")
    writer = PngFolderWriter(path, total=total) if is_folder else VideoWriter(path, fps=fps, audio=audio)
    try:
        for chunk in chunks:
            writer.write(chunk)
    except BaseException:
        writer.abort()
        raise
    return writer.close(), writer.frames


def write_sidecar(result: GenerationResult, audio: AudioInput | None = None) -> Path:
    """`<file>.json` (or `metadata.json` in the folder): the resolved options, the seed, the model's identity
    and timings, so a video can be regenerated exactly."""
    path, is_folder = output_target(result.path)
    meta = {**result.metadata, "fps": result.fps, "output": str(path), "seed": result.options.seed}
    if audio is not None:
        meta["audio"] = _describe(audio)
    return write_json_atomic(sidecar_path(path, is_folder), meta)


def save_result(result: GenerationResult, path: str | Path, audio: AudioInput | None = None) -> Path:
    """Write a result generated in memory (see `output_target` for mp4 vs PNG folder) and its sidecar."""
    if result.video is None:
        raise InvalidOptionError(f"this result was already written to {result.path}")
    result.path, _ = write_stream([result.frames], path, fps=result.fps, audio=audio)
    write_sidecar(result, audio)
    log.info("wrote %s", result.path)
    return result.path


def _describe(audio: AudioInput) -> str | dict:
    if isinstance(audio, AudioTrack):
        return {"samples": len(audio.samples), "sample_rate": audio.sample_rate}
    return str(audio)
