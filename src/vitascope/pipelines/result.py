"""What a generation returns: the written file, or (for in-memory calls) the frames themselves."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vitascope.errors import InvalidOptionError
from vitascope.pipelines.options import GenerationOptions


@dataclass
class GenerationResult:
    fps: int
    options: GenerationOptions  # resolved: every default filled in
    metadata: dict = field(default_factory=dict)
    # In-memory calls (no output path): float32 [F, H, W, 3] in [0, 1], exactly what the VAE decoded (for
    # parity checks). None when the video was streamed to `path`, so memory does not grow with the frames.
    video: np.ndarray | None = None
    path: Path | None = None  # the mp4 file or PNG folder the video was streamed into
    num_frames: int = 0

    def __post_init__(self):
        if self.video is not None:
            self.num_frames = len(self.video)

    @property
    def frames(self) -> np.ndarray:
        """uint8 [F, H, W, 3], rounded (not truncated) from the float video."""
        from vitascope.media import to_uint8

        if self.video is None:
            raise InvalidOptionError(
                f"this result was streamed to {self.path} and holds no frames; read them with "
                "vitascope.media.read_video, or call generate() without an output path"
            )
        return to_uint8(self.video)
