"""Stages 1-2: shot splitting with PySceneDetect, clip length limits, sharpest start frame.

The paper splits raw videos into single-shot clips with PySceneDetect and starts each clip at its sharpest
frame (Laplacian variance, OpenCV). We run the content detector (HSV frame differences: hard cuts) and the
adaptive detector (differences relative to a rolling average: robust to fast camera motion) in one pass and
take the union of their cuts.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from vitascope.curate.config import SplitConfig
from vitascope.curate.manifest import clip_id

log = logging.getLogger(__name__)


def detect_cuts(path: str | Path, cfg: SplitConfig) -> list[int]:
    """Frame indices where a new shot starts (0 excluded), merged across both detectors."""
    from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, open_video

    video = open_video(str(path), backend="pyav")
    manager = SceneManager()
    manager.auto_downscale = True
    manager.add_detector(ContentDetector(threshold=cfg.content_threshold, min_scene_len=cfg.min_scene_frames))
    manager.add_detector(
        AdaptiveDetector(adaptive_threshold=cfg.adaptive_threshold, min_scene_len=cfg.min_scene_frames)
    )
    manager.detect_scenes(video=video)
    cuts = sorted({int(start.frame_num) for start, _ in manager.get_scene_list()[1:]})
    merged: list[int] = []
    for c in cuts:  # both detectors usually report the same cut, sometimes a frame apart
        if c <= 0:
            continue
        if merged and c - merged[-1] < cfg.min_scene_frames:
            continue
        merged.append(c)
    return merged


def shots_from_cuts(cuts: list[int], n_frames: int) -> list[tuple[int, int]]:
    bounds = [0] + [c for c in cuts if 0 < c < n_frames] + [n_frames]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=False) if b > a]


def clips_from_shots(
    rel_path: str, info: dict[str, Any], shots: list[tuple[int, int]], cfg: SplitConfig
) -> list[dict[str, Any]]:
    """One record per clip. Long shots become equal chunks no longer than max_clip_s; short ones are rejected."""
    fps = info["fps"]
    records = []
    for shot, (a, b) in enumerate(shots):
        n_chunks = max(1, math.ceil((b - a) / fps / cfg.max_clip_s - 1e-9))
        edges = np.round(np.linspace(a, b, n_chunks + 1)).astype(int)
        for chunk, (s, e) in enumerate(zip(edges[:-1], edges[1:], strict=False)):
            rec = {
                "clip_id": clip_id(rel_path, shot, chunk), "source": rel_path, "shot": shot, "chunk": chunk,
                "shot_start": a / fps, "shot_end": b / fps, "first_frame": int(s), "last_frame": int(e),
                "start": s / fps, "end": e / fps, "fps": fps, "width": info["width"], "height": info["height"],
                "codec": info["codec"], "source_duration": info["duration"],
            }  # fmt: skip
            if (e - s) / fps < cfg.min_clip_s:
                rec["reject"] = ["too_short"]
            records.append(rec)
    return records


def laplacian_variance(gray: np.ndarray) -> float:
    """Focus measure: variance of the Laplacian of a float32 luma image."""
    import cv2

    return float(cv2.Laplacian(gray, cv2.CV_32F, ksize=3).var())


def sharpest_start(gray_frames: np.ndarray, fps: float, cfg: SplitConfig) -> int:
    """Index of the start frame: the first frame in the search window within tolerance of the sharpest one.

    Taking the first near-best frame (instead of the argmax) keeps uniformly sharp clips at their shot start
    rather than letting encoder noise move the start by a few frames.
    """
    window = max(1, min(len(gray_frames), int(round(cfg.sharp_search_s * fps)) + 1))
    scores = np.array([laplacian_variance(g) for g in gray_frames[:window]])
    best = scores.max()
    if best <= 0:
        return 0
    return int(np.argmax(scores >= cfg.sharp_tolerance * best))
