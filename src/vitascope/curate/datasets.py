"""Stage 10: which progressive training stage datasets a clip enters, and its duration x aspect bucket.

The paper trains in stages of growing resolution and length (256p -> 720p, 65 -> 129 frames) with stricter
filters later on. A kept clip enters every stage whose thresholds it meets; its bucket is the longest
duration bucket it can fill and the nearest aspect ratio (of the picture after cropping).
"""

from __future__ import annotations

import math
from typing import Any

from vitascope.curate.config import DatasetConfig


def _ratio(name: str) -> float:
    w, h = (float(v) for v in name.split(":"))
    return w / h


def aspect_bucket(width: float, height: float, buckets: tuple[str, ...]) -> str:
    r = math.log(width / height)
    return min(buckets, key=lambda b: abs(math.log(_ratio(b)) - r))


def duration_bucket(duration: float, buckets: tuple[float, ...]) -> float | None:
    fits = [b for b in buckets if b <= duration + 1e-6]
    return fits[-1] if fits else None


def assign_stages(rec: dict[str, Any], cfg: DatasetConfig) -> None:
    """Set bucket, bucket_duration, bucket_aspect and stages on one record (in place)."""
    x0, y0, x1, y1 = rec.get("crop") or (0, 0, rec["width"], rec["height"])
    w, h = x1 - x0, y1 - y0
    dur = rec["end"] - rec["start"]
    rec["bucket_aspect"] = aspect_bucket(w, h, cfg.aspect_buckets)
    rec["bucket_duration"] = duration_bucket(dur, cfg.duration_buckets_s)
    rec["bucket"] = (
        f"{rec['bucket_duration']:g}s@{rec['bucket_aspect']}" if rec["bucket_duration"] is not None else None
    )
    stages = []
    if rec["kept"] and rec["bucket"] is not None:
        for s in cfg.stages:
            if (
                min(w, h) >= s.min_short_side
                and dur >= s.min_duration_s
                and (rec.get("sharpness") or 0) >= s.min_sharpness
                and (rec.get("speed") or 0) >= s.min_speed
            ):
                stages.append(s.name)
    rec["stages"] = stages
