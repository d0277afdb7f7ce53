"""Lip-sync scores built like SyncNet's (reference avatar_longvideo_pose.md §3.3), on a mouth-opening
series instead of learned embeddings.

SyncNet slides the audio against the video over +-15 frames, averages a distance over time per offset,
and reports the offset of the smallest distance and a confidence = median(distance) - min(distance).
Here the "distance" at offset k is 1 - Pearson correlation between the mouth opening at frame t and the
audio loudness at frame t + k, so the offset is the k of the highest correlation and the confidence is
max(corr) - median(corr). A positive offset means the mouth moves before its sound (real speech: 1-2
frames); a clip whose mouth ignores the audio has a flat curve and a confidence near 0.
"""

from __future__ import annotations

import numpy as np

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.faces.audio import loudness
from vitascope.synthetic.faces.world import SAMPLE_RATE

MAX_SHIFT = 15  # SyncNet's vshift
MIN_OVERLAP = 8  # frames two series must share for a correlation to count
STILL = 0.003  # a mouth whose height (over the head height) varies less than this (std) is still


def pearson(x: np.ndarray, y: np.ndarray, floor: float = 1e-6) -> float:
    """Correlation of two series; 0 when either has a standard deviation under `floor` (a still mouth:
    sub-pixel jitter of a closed mouth must not correlate with anything; a silent track)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    x, y = x - x.mean(), y - y.mean()
    if x.std() < floor or y.std() < 1e-6:
        return 0.0
    return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))


def shifted_correlations(mouth, envelope, max_shift: int = MAX_SHIFT) -> np.ndarray:
    """corr(mouth[t], envelope[t + k]) for k = -max_shift..max_shift: [2 max_shift + 1] (NaN where the
    series overlap by fewer than MIN_OVERLAP frames; 0 where the mouth is still, see STILL). The mouth is
    in head heights (what analyze_talk measures)."""
    mouth, envelope = np.asarray(mouth, np.float64), np.asarray(envelope, np.float64)
    if mouth.shape != envelope.shape or mouth.ndim != 1:
        raise InvalidOptionError(
            f"mouth {mouth.shape} and envelope {envelope.shape} must be series of one length"
        )
    n = len(mouth)
    out = np.full(2 * max_shift + 1, np.nan)
    for i, k in enumerate(range(-max_shift, max_shift + 1)):
        lo, hi = max(0, -k), min(n, n - k)
        if hi - lo >= MIN_OVERLAP:
            out[i] = pearson(mouth[lo:hi], envelope[lo + k : hi + k], STILL)
    return out


def sync_scores(mouth, envelope, max_shift: int = MAX_SHIFT) -> dict:
    """SyncNet-style scores of one mouth against one loudness envelope (both [F]): offset (frames the
    mouth leads), confidence (peak minus median correlation over offsets), corr (at the offset), corr0
    (at offset 0) and the whole curve."""
    curve = shifted_correlations(mouth, envelope, max_shift)
    if np.all(np.isnan(curve)) or np.nanmax(curve) - np.nanmin(curve) < 1e-9:  # too short, or a still mouth
        return {"offset": 0, "confidence": 0.0, "corr": 0.0, "corr0": 0.0, "curve": curve}
    best = int(np.nanargmax(curve))
    return {
        "offset": best - max_shift,
        "confidence": float(curve[best] - np.nanmedian(curve)),
        "corr": float(curve[best]),
        "corr0": float(curve[max_shift]) if not np.isnan(curve[max_shift]) else 0.0,
        "curve": curve,
    }


def cross_talk(mouth, other_envelope, window: int = 2) -> float:
    """How much a face's mouth follows another face's track: the largest correlation within +-window
    frames (a silent face should stay near 0; independent speech stays low)."""
    curve = shifted_correlations(mouth, other_envelope, window)
    return float(np.nanmax(curve)) if not np.all(np.isnan(curve)) else 0.0


def envelopes(audio, fps: float, frames: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Loudness per frame of one track [S] or several [N, S]: [N, frames]."""
    audio = np.asarray(audio, np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2:
        raise InvalidOptionError(f"audio must be [samples] or [tracks, samples]; got shape {audio.shape}")
    return np.stack([loudness(a, fps, frames, sr) for a in audio])
