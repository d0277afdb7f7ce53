"""Writing a result: H.264 mp4 or a folder of lossless PNGs, plus a JSON sidecar with every setting."""

from __future__ import annotations

import logging
from pathlib import Path

from vitascope.io.files import write_json_atomic
from vitascope.media import write_png_frames, write_video
from vitascope.pipelines.result import GenerationResult

log = logging.getLogger(__name__)


def sidecar_path(path: Path, is_folder: bool) -> Path:
    return path / "metadata.json" if is_folder else path.with_name(path.name + ".json")


def save_result(result: GenerationResult, path: str | Path) -> Path:
    """`path` ending in '/' (or an existing folder) gets numbered PNG frames; anything else an mp4.

    The sidecar (`<file>.json`, or `metadata.json` in the folder) holds the resolved options, the seed, the
    model's identity and timings, so a video can be regenerated exactly.
    """
    is_folder = str(path).endswith(("/", "\\")) or Path(path).is_dir()
    path = Path(path)
    if is_folder:
        write_png_frames(result.frames, path)
    else:
        if path.suffix.lower() != ".mp4":
            path = path.with_suffix(".mp4") if path.suffix else path.with_name(path.name + ".mp4")
        write_video(result.frames, path, fps=result.fps)
    meta = {**result.metadata, "fps": result.fps, "output": str(path), "seed": result.options.seed}
    write_json_atomic(sidecar_path(path, is_folder), meta)
    log.info("wrote %s", path)
    return path
