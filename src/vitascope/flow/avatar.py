"""HunyuanVideo-Avatar's sampling rules as plain functions: guidance regimes, face-mask scale, DeepCache steps,
and the shifted circular windows over the latent timeline for audio longer than one window.

Branch names used by the policy (the pipeline builds one DiTInputs per branch):
    "cond"      positive prompt + the audio windows
    "negative"  negative prompt + zero audio features      (uncond for steps 0-9)
    "no_audio"  positive prompt + zero audio features      (uncond from step 10: audio-only guidance)
Zero audio means zero *features* (they still pass through audio_proj), as the release.

Long audio: `avatar_timeline` gives the release's latent length, `avatar_windows` its window schedule for
`flow.windows.windowed_predict` (which averages window velocities per frame; the release averages the stepped
latents, the same for an Euler step from one shared x_t, and rounds them to bf16, which we do not), and
`window_audio_indices` the audio frames of a window.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vitascope.flow.sampler import GuidancePolicy, StepGuidance, StepInfo
from vitascope.flow.windows import shifted_windows

SWITCH_STEP = 10  # the release's regime change, at step 10 whatever the step count
WINDOW = 33  # latent frames per window (129 video frames)
WINDOW_AUDIO = 4 * WINDOW - 3  # 129 audio frames per window
SHIFT_PER_STEP = 10  # the code's shift (the paper says 5)


def avatar_guidance_scale(index: int, total: int, cfg_scale: float = 7.5) -> float:
    """(1 - i/N)(cfg - 2) + 2 for i < 10, then (1 - i/N)(6.5 - 3.5) + 3.5 (ignores cfg_scale, as the release)."""
    if index < SWITCH_STEP:
        return (1 - index / total) * (cfg_scale - 2) + 2
    return (1 - index / total) * (6.5 - 3.5) + 3.5


def avatar_guidance(cfg_scale: float = 7.5) -> GuidancePolicy:
    """The two-regime policy: negative text (and zero audio) first, then audio-only guidance."""

    def policy(step: StepInfo) -> StepGuidance:
        uncond = "negative" if step.index < SWITCH_STEP else "no_audio"
        return StepGuidance(avatar_guidance_scale(step.index, step.total, cfg_scale), uncond, "cond")

    return policy


def avatar_mask_scale(index: int) -> float:
    """The face mask is multiplied by 0.6 in both branches for steps 0-9, 1.0 after."""
    return 0.6 if index < SWITCH_STEP else 1.0


DEEPCACHE_FULL = frozenset([*range(15), *range(15, 42, 5), *range(41, 50)])


def deepcache_full_step(index: int) -> bool:
    """The release's hard-coded 50-step DeepCache plan: full passes at 0-15, 20, 25, ..., 40 and 41-49; at the
    other 20 steps only the last single block runs on the cached input (always on in the release)."""
    return index in DEEPCACHE_FULL


def pad_audio_frames(audio: torch.Tensor, size: int = WINDOW) -> torch.Tensor:
    """[B, F, ...] -> zero-padded to 129 frames when F <= 129, else 5 zero frames appended (the release).
    size: latent frames per window (a model folder may state a shorter window than the release's 33)."""
    F, per = audio.shape[1], 4 * size - 3
    extra = per - F if F <= per else 5
    return torch.cat([audio, audio.new_zeros(audio.shape[0], extra, *audio.shape[2:])], dim=1)


@dataclass(frozen=True)
class Timeline:
    """The release's latent timeline for L padded audio frames (L >= 129).

    latent_frames: frames denoised ((L//128+1)*32+1, or 33 for one window); kept_frames: frames decoded and
    kept; audio_frames: length of the zero-padded audio the windows index (4 * latent_frames, so audio wraps
    with the latents); shift: latent frames the window seams move per step (0 for a single window).
    """

    latent_frames: int
    kept_frames: int
    audio_frames: int
    shift: int
    window: int = WINDOW  # latent frames per window

    @property
    def single(self) -> bool:
        return self.latent_frames == self.window


def avatar_timeline(L: int, size: int = WINDOW) -> Timeline:
    """The release's timeline for L audio frames after `pad_audio_frames` (windows of `size` latent frames:
    the release's 33 gives (L // 128 + 1) * 32 + 1 latent frames and a 10-frame shift per step; a shorter
    window scales the shift, at least 1)."""
    per = 4 * size - 3
    if L < per:
        raise ValueError(f"pad the audio to at least {per} frames first (pad_audio_frames)")
    kept = ((L // 4 * 4 + 1) - 1) // 4 + 1
    n = (L // (per - 1) + 1) * (size - 1) + 1
    if kept == size or n == size:
        return Timeline(size, kept, 4 * size, 0, size)
    shift = SHIFT_PER_STEP if size == WINDOW else max(1, round(SHIFT_PER_STEP * (size - 1) / (WINDOW - 1)))
    return Timeline(n, kept, 4 * n, shift, size)


def avatar_windows(timeline: Timeline, circular: bool = True):
    """The window schedule for `flow.windows.windowed_predict`: 33-frame windows whose seams move 10 frames per
    step, wrapping modulo the timeline as the release (`circular=True`) or kept inside it (`circular=False`:
    no window holds both the end and the start, so the end is not pulled toward the start)."""
    return shifted_windows(timeline.window, timeline.shift, circular=circular)


def window_audio_indices(window, timeline: Timeline) -> torch.Tensor:
    """Audio frame indices [129] of a latent window (its frame indices, e.g. `step.window`): latent frame k
    takes audio frames 4k-3..4k, so a window starting at s takes 4s..4s+128 of the padded audio, wrapping
    (4 * timeline.window - 3 indices for a shorter window)."""
    start = int(window[0])
    return (4 * start + torch.arange(4 * timeline.window - 3)) % timeline.audio_frames
