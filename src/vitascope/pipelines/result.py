"""What a generation returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vitascope.pipelines.options import GenerationOptions


@dataclass
class GenerationResult:
    video: np.ndarray  # float32 [F, H, W, 3] in [0, 1], exactly what the VAE decoded (for parity checks)
    fps: int
    options: GenerationOptions  # resolved: every default filled in
    metadata: dict = field(default_factory=dict)

    @property
    def frames(self) -> np.ndarray:
        """uint8 [F, H, W, 3], rounded (not truncated) from the float video."""
        return (self.video * 255.0).round().clip(0, 255).astype(np.uint8)
