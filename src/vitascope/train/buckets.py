"""Buckets by (frames, aspect ratio): every micro-batch has one shape, and each bucket its own batch size so
that memory per step stays about level (many images, few long clips). Paper §3.3."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vitascope.errors import InvalidOptionError


@dataclass(frozen=True)
class Bucket:
    """Pixel shape of one micro-batch (frames = 4k+1; 1 for images) and its global batch size (split evenly
    across processes, so a 2-process run computes what one process does)."""

    frames: int
    height: int
    width: int
    batch_size: int
    weight: float = 1.0  # relative share of micro-batches drawn from this bucket

    def __post_init__(self):
        if self.frames < 1 or (self.frames - 1) % 4:
            raise InvalidOptionError(f"bucket frames={self.frames}: use 4k+1 (1 for images)")
        if self.height < 8 or self.width < 8 or self.height % 8 or self.width % 8:
            raise InvalidOptionError(
                f"bucket {self.height}x{self.width}: height and width must be multiples of 8"
            )
        if self.batch_size < 1:
            raise InvalidOptionError(f"bucket batch_size must be >= 1, got {self.batch_size}")
        if self.weight <= 0:
            raise InvalidOptionError(f"bucket weight must be positive, got {self.weight}")

    @property
    def is_image(self) -> bool:
        return self.frames == 1

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def key(self) -> str:
        return f"{self.frames}x{self.height}x{self.width}"


def pick_bucket(buckets: tuple[Bucket, ...], rng: np.random.Generator) -> Bucket:
    """Draw one bucket by weight (the caller seeds `rng` from the step, so every rank draws the same)."""
    w = np.array([b.weight for b in buckets], dtype=np.float64)
    return buckets[int(rng.choice(len(buckets), p=w / w.sum()))]


def nearest_bucket(buckets: tuple[Bucket, ...], frames: int, height: int, width: int) -> Bucket:
    """The bucket a clip belongs to: most frames not above the clip's, then the closest aspect ratio (log
    scale), then the closest area. Raises when the clip is shorter than every bucket."""
    fitting = [b for b in buckets if b.frames <= frames]
    if not fitting:
        shortest = min(b.frames for b in buckets)
        raise InvalidOptionError(
            f"a {frames}-frame clip fits no bucket (the shortest needs {shortest} frames)"
        )
    best_frames = max(b.frames for b in fitting)
    same = [b for b in fitting if b.frames == best_frames]
    aspect = math.log(width / height)
    return min(
        same,
        key=lambda b: (
            abs(math.log(b.aspect) - aspect),
            abs(math.log(b.height * b.width / (height * width))),
        ),
    )


def split_batch(global_batch: int, world_size: int, rank: int) -> range:
    """Indices [0, global_batch) owned by `rank`: contiguous, equal shares (so averaged gradients match one
    process with the whole batch)."""
    if global_batch % world_size:
        raise InvalidOptionError(
            f"batch size {global_batch} must be divisible by the {world_size} processes; change the bucket's "
            "batch_size or the process count"
        )
    per = global_batch // world_size
    return range(rank * per, (rank + 1) * per)
