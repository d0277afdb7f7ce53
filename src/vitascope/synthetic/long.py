"""Scoring long clips of the world window by window: colour and shape per frame, motion per window.

A long clip (say 10x the 17 native frames) of a long-path scene (world.LONG_PATHS) has no single motion:
an object bouncing off the edges moves right in one window and left in the next. So the truth is taken per
window, by the same rule the analyzer applies to each window of the measured track
(`analyze._motion`: a least-squares line through the window, still under STILL of the frame, else its
dominant direction). Windows whose true displacement is within AMBIGUOUS of the still threshold are not
scored (a pixel of noise would flip them either way).

    spec = sample_scene(0, frames=169, path="bounce")
    result = analyze_long(render(spec), wrap=False)
    score_long(result, spec)   # {'colour': 1.0, 'shape': 1.0, 'motion': 1.0, ...}

Wrapping objects are split across two frame edges while they wrap; with `wrap=True` the analyzer looks at
the frame as a torus (2x2 tiles), so a split object is measured whole, and tracks are linked and unwrapped
with the frame's period. The camera is assumed static (long paths are only drawn with a static camera).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.analyze import (
    STILL,
    _as_video,
    _background_tones,
    _border,
    _components,
    _fg_threshold,
    _motion,
    _vote,
)
from vitascope.synthetic.world import NATIVE_FRAMES, SceneSpec, world_positions

AMBIGUOUS = 0.04  # windows with |true displacement| within this of analyze.STILL are not scored


def window_starts(frames: int, window: int = NATIVE_FRAMES, stride: int | None = None) -> list[int]:
    """First frames of the windows covering [0, frames): every `stride` (default window - 1, windows share
    one frame), plus one flush with the end when the last does not reach it."""
    stride = stride or max(1, window - 1)
    if window < 2 or stride < 1:
        raise InvalidOptionError(f"window={window}, stride={stride}: use a window of 2+ frames, stride 1+")
    if frames <= window:
        return [0]
    starts = list(range(0, frames - window + 1, stride))
    if starts[-1] + window < frames:
        starts.append(frames - window)
    return starts


def _unwrap(xy: np.ndarray, period: np.ndarray | None) -> np.ndarray:
    """Undo jumps of more than half a period between consecutive positions [T, 2] (wrapping axes)."""
    if period is None or len(xy) < 2:
        return xy
    step = np.diff(xy, axis=0)
    step -= period * np.round(step / period)
    return np.concatenate([xy[:1], xy[:1] + np.cumsum(step, axis=0)])


def _window_labels(xy: np.ndarray, starts, window, width, height) -> list[tuple[str, float]]:
    out = []
    for s in starts:
        label, (dx, dy) = _motion(xy[s : s + window], width, height)
        out.append((label, max(abs(dx), abs(dy))))
    return out


def window_truth(spec: SceneSpec, window: int = NATIVE_FRAMES, stride: int | None = None) -> list[list]:
    """Per object, per window: the true motion label, or None where the window is ambiguous."""
    starts = window_starts(spec.frames, window, stride)
    period = np.array([spec.width, spec.height], dtype=np.float64)
    out = []
    for obj in spec.objects:
        xy = _unwrap(world_positions(spec, obj), period if obj.path == "wrap" else None)
        labels = _window_labels(xy, starts, window, spec.width, spec.height)
        out.append([None if abs(d - STILL) < AMBIGUOUS else lab for lab, d in labels])
    return out


@dataclasses.dataclass
class LongAnalysis:
    """objects: dicts with colours and shapes (one name per frame, None where not seen), colour and shape
    (votes), trajectory [(x, y)] per frame (unwrapped when wrapping), windows (motion label per window),
    area (mean pixels); largest first. starts: first frame of each window."""

    objects: list[dict]
    starts: list[int]
    window: int
    background: str
    frames: int


def _torus_components(frame, tones, threshold):
    """Components of a frame seen as a torus: measured on 2x2 tiles, one copy per object kept."""
    h, w, _ = frame.shape
    tiled = np.tile(frame, (2, 2, 1))
    comps, _ = _components(tiled, tones, threshold, True)
    kept = []
    for c in comps:
        x, y = c["x"] % w, c["y"] % h
        if any(math.hypot(_wrapd(x - k["x"], w), _wrapd(y - k["y"], h)) < 3.0 for k in kept):
            continue
        # a copy cut by the tile border is smaller than a whole one: keep the largest per place
        twins = [d for d in comps if math.hypot(_wrapd(d["x"] - x, w), _wrapd(d["y"] - y, h)) < 3.0]
        best = max(twins, key=lambda d: d["area"])
        kept.append({**best, "x": best["x"] % w, "y": best["y"] % h})
    return kept


def _wrapd(d: float, period: float) -> float:
    return d - period * round(d / period)


def _link(per_frame: list[list[dict]], scale: float, period) -> list[dict]:
    """Greedy linking (colour first, then nearest last position; periodic distance when wrapping)."""
    tracks: list[dict] = []
    for t, comps in enumerate(per_frame):
        free = list(range(len(comps)))
        for tr in sorted(tracks, key=lambda tr: -len(tr["obs"])):
            if not free:
                break
            last = tr["obs"][-1][1]

            def cost(i, last=last, comps=comps):
                dx, dy = comps[i]["x"] - last["x"], comps[i]["y"] - last["y"]
                if period is not None:
                    dx, dy = _wrapd(dx, period[0]), _wrapd(dy, period[1])
                return math.hypot(dx, dy) + (0 if comps[i]["colour"] == last["colour"] else scale)

            costs = [cost(i) for i in free]
            j = int(np.argmin(costs))
            if costs[j] < 0.35 * scale:
                tr["obs"].append((t, comps[free.pop(j)]))
        tracks.extend({"obs": [(t, comps[i])]} for i in free)
    return tracks


def analyze_long(
    video,
    window: int = NATIVE_FRAMES,
    stride: int | None = None,
    background: str | None = None,
    wrap: bool = False,
) -> LongAnalysis:
    """Measure a long clip uint8 [T, H, W, 3]: per-frame colour and shape of every object, motion per window."""
    video = _as_video(video)
    t, h, w, _ = video.shape
    border = _border(video)
    bg_name, tones = _background_tones(border, background)
    threshold = _fg_threshold(border, tones)
    per_frame = []
    for i in range(t):
        comps, dist = _components(video[i], tones, threshold, True)
        edge = max(dist[:, [0, -1]].max(), dist[[0, -1], :].max()) > threshold
        per_frame.append(_torus_components(video[i], tones, threshold) if wrap and edge else comps)
    period = np.array([w, h], dtype=np.float64) if wrap else None
    starts = window_starts(t, window, stride)
    objects = []
    for tr in _link(per_frame, float(min(h, w)), period):
        if len(tr["obs"]) < max(1, 0.5 * t):
            continue
        ts = np.array([o[0] for o in tr["obs"]])
        xy = _unwrap(np.array([[o[1]["x"], o[1]["y"]] for o in tr["obs"]]), period)
        full = np.stack([np.interp(np.arange(t), ts, xy[:, k]) for k in range(2)], axis=1)  # [T, 2]
        colours, shapes = [None] * t, [None] * t
        for i, o in tr["obs"]:
            colours[i] = o["colour"]
            shapes[i] = min(o["errors"], key=o["errors"].get)
        objects.append(
            {
                "colours": colours,
                "shapes": shapes,
                "colour": _vote([c for c in colours if c]),
                "shape": _vote([s for s in shapes if s]),
                "trajectory": [(float(x), float(y)) for x, y in full],
                "windows": [lab for lab, _ in _window_labels(full, starts, window, w, h)],
                "area": float(np.mean([o[1]["area"] for o in tr["obs"]])),
            }
        )
    objects.sort(key=lambda o: -o["area"])
    return LongAnalysis(objects, starts, window, bg_name, t)


def score_long(analysis: LongAnalysis, spec: SceneSpec) -> dict:
    """Fractions over all frames (colour, shape) and scored windows (motion) of the scene's objects, each
    matched to the measured object of its colour (else the largest left); count: as many objects found."""
    truth = window_truth(spec, analysis.window, None if len(analysis.starts) < 2 else _stride(analysis))
    left = list(analysis.objects)
    hits = {"colour": 0, "shape": 0, "motion": 0}
    totals = {"colour": 0, "shape": 0, "motion": 0}
    for obj, windows in zip(spec.objects, truth, strict=True):
        totals["colour"] += spec.frames
        totals["shape"] += spec.frames
        totals["motion"] += sum(lab is not None for lab in windows)
        if not left:
            continue
        same = [m for m in left if m["colour"] == obj.colour]
        match = same[0] if same else left[0]
        left.remove(match)
        hits["colour"] += sum(c == obj.colour for c in match["colours"])
        hits["shape"] += sum(s == obj.shape for s in match["shapes"])
        hits["motion"] += sum(
            lab == got for lab, got in zip(windows, match["windows"], strict=True) if lab is not None
        )
    score = {k: hits[k] / max(1, totals[k]) for k in hits}
    score["windows"] = len(analysis.starts)
    score["count"] = len(analysis.objects) == len(spec.objects)
    return score


def _stride(analysis: LongAnalysis) -> int:
    return analysis.starts[1] - analysis.starts[0]
