"""Context windows over the latent timeline: any length from a model trained on short clips.

A window schedule says, at each step, which latent frames each window covers; `windowed_predict` wraps a
Predict, runs it once per window (each window is a native-length clip with its own RoPE positions 0..w-1)
and averages the velocities where windows overlap. Two schedules, as the field uses them:

- `overlapping_windows` (MuseV `uniform_v2`): windows of `size` frames every `size - overlap` frames, the tail
  window truncated, never wrapped; coherence comes from averaging the overlaps;
- `shifted_windows` (HunyuanVideo-Avatar / Sonic): windows tile the timeline and their seams move `shift`
  frames per step, so no frame sits on a seam for long; `circular=True` wraps as the release does (the
  video's end and start share a window, so the clip tends to loop), `circular=False` slides the windows
  that would wrap back inside the timeline instead.

A clean vision-condition frame (MuseV) is prepended to every window and its output dropped: pass `context`
and an inner Predict that treats frame 0 as clean (the DiT's I2V token-replace input builder).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from vitascope.flow.sampler import Predict, StepInfo

Schedule = Callable[[StepInfo, int], list[list[int]]]  # (step, timeline length T) -> windows of frame indices


def overlapping_windows(size: int, overlap: int) -> Schedule:
    """MuseV's rule: starts 0, s, 2s, ... (s = size - overlap) while start < T; tail windows truncated; the
    last window dropped when it ends where the previous one ends."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"window size must be >= 1 and 0 <= overlap < size, got {size}/{overlap}")

    def schedule(step: StepInfo, T: int) -> list[list[int]]:
        if T <= size:
            return [list(range(T))]
        out: list[list[int]] = []
        for start in range(0, T, size - overlap):
            idx = list(range(start, min(start + size, T)))
            if out and idx[-1] == out[-1][-1]:
                break
            out.append(idx)
        return out

    return schedule


def shifted_windows(size: int, shift: int, circular: bool = True) -> Schedule:
    """The Avatar's rule: windows start at 0, size, 2 size, ... less an offset that grows by `shift` per step
    (mod size). Circular windows wrap modulo T; non-circular ones are moved back inside [0, T)."""
    if size < 1 or shift < 0:
        raise ValueError(f"window size must be >= 1 and shift >= 0, got {size}/{shift}")

    def schedule(step: StepInfo, T: int) -> list[list[int]]:
        if T <= size:
            return [list(range(T))]
        offset = (step.index * shift) % size
        out = []
        for start in range(0, T, size):
            s = start - offset
            if circular:
                out.append([(s + j) % T for j in range(size)])
            else:
                s = min(max(s, 0), T - size)
                out.append(list(range(s, s + size)))
        if not circular and out[-1][-1] != T - 1:  # an offset leaves the end uncovered: one more window
            out.append(list(range(T - size, T)))
        return out

    return schedule


def windowed_predict(inner: Predict, schedule: Schedule, *, context: torch.Tensor | None = None) -> Predict:
    """A Predict over the whole timeline built from `inner` calls on windows.

    `inner` sees the window's frame indices as `step.window` (to slice per-frame conditions such as audio).

    context: clean latent frames [B, C, Tc, H, W] put before every window (their velocities are dropped);
    inner must then keep those frames clean (token replace pins frame 0).
    """

    def predict(x: torch.Tensor, t: torch.Tensor, branch: str, step: StepInfo) -> torch.Tensor:
        T = x.shape[2]
        windows = schedule(step, T)
        covered = {i for idx in windows for i in idx}
        if len(covered) != T:  # checked on the host, from the indices: no device sync
            raise ValueError(
                f"the window schedule leaves latent frames {sorted(set(range(T)) - covered)} uncovered"
            )
        total = None
        count = torch.zeros(T, device=x.device, dtype=torch.float32)
        for idx in windows:
            index = torch.tensor(idx, device=x.device)
            xw = x.index_select(2, index)
            if context is not None:
                xw = torch.cat([context.to(xw), xw], dim=2)
            v = inner(xw, t, branch, dataclasses.replace(step, window=tuple(idx)))
            if context is not None:
                v = v[:, :, context.shape[2] :]
            if total is None:
                total = torch.zeros(*x.shape[:2], T, *x.shape[3:], device=x.device, dtype=torch.float32)
            total.index_add_(2, index, v.float())
            count.index_add_(0, index, torch.ones(len(idx), device=x.device))
        return (total / count.view(1, 1, T, 1, 1)).to(v.dtype)

    return predict


def count_windows(schedule: Schedule, T: int, steps: int) -> list[int]:
    """Windows per step (for progress over windows x steps and the sidecar)."""
    return [len(schedule(StepInfo(i, steps, 0.0, 0.0), T)) for i in range(steps)]
