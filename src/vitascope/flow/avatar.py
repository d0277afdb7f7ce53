"""HunyuanVideo-Avatar's sampling rules as plain functions: guidance regimes, face-mask scale, DeepCache steps,
and the shifted circular windows over the latent timeline for audio longer than one window.

Branch names used by the policy (the pipeline builds one DiTInputs per branch):
    "cond"      positive prompt + the audio windows
    "negative"  negative prompt + zero audio features      (uncond for steps 0-9)
    "no_audio"  positive prompt + zero audio features      (uncond from step 10: audio-only guidance)
Zero audio means zero *features* (they still pass through audio_proj), as the release.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vitascope.flow.sampler import GuidancePolicy, StepGuidance, StepInfo

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


def pad_audio_frames(audio: torch.Tensor) -> torch.Tensor:
    """[B, F, ...] -> zero-padded to 129 frames when F <= 129, else 5 zero frames appended (the release)."""
    F = audio.shape[1]
    extra = WINDOW_AUDIO - F if F <= WINDOW_AUDIO else 5
    return torch.cat([audio, audio.new_zeros(audio.shape[0], extra, *audio.shape[2:])], dim=1)


@dataclass(frozen=True)
class Timeline:
    """The latent timeline for L padded audio frames (L >= 129).

    latent_frames: frames denoised (the release: (L//128+1)*32+1); kept_frames: frames decoded and kept;
    audio_frames: length of the zero-padded audio the windows index (4 * latent_frames); shift: per step.
    """

    latent_frames: int
    kept_frames: int
    audio_frames: int
    shift: int

    @property
    def single(self) -> bool:
        return self.latent_frames == WINDOW


def avatar_timeline(L: int, wrap: bool = True) -> Timeline:
    """The release's timeline (`wrap=True`), or a non-wrapping one with at least 32 padding latent frames, so
    no window ever holds both the end and the start of the clip (the wrap otherwise pulls the last frames
    toward the first)."""
    if L < WINDOW_AUDIO:
        raise ValueError(f"pad the audio to at least {WINDOW_AUDIO} frames first (pad_audio_frames)")
    kept = ((L // 4 * 4 + 1) - 1) // 4 + 1
    n = (L // 128 + 1) * 32 + 1
    if kept == WINDOW or n == WINDOW:
        return Timeline(WINDOW, kept, 4 * WINDOW, 0)
    if not wrap:
        n = max(n, kept + WINDOW - 1)
    return Timeline(n, kept, 4 * n, SHIFT_PER_STEP)


def window_indices(index: int, tl: Timeline) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Windows of step `index`: [(latent idx [33], audio idx [129])], tiling the timeline from -shift, wrapping
    modulo its length. Each window is denoised from the same x_t; the stepped windows are averaged per frame."""
    shift = (index * tl.shift) % WINDOW
    out = []
    for start in range(0, tl.latent_frames, WINDOW):
        s = start - shift
        idx = torch.arange(s, s + WINDOW) % tl.latent_frames
        aidx = torch.arange(4 * s, 4 * s + WINDOW_AUDIO) % tl.audio_frames
        out.append((idx, aidx))
    return out


@dataclass(frozen=True)
class Window:
    number: int  # position in this step's tiling
    latent: torch.Tensor  # [33] latent frame indices into the timeline
    audio: torch.Tensor  # [129] audio frame indices into the padded audio (length timeline.audio_frames)


def windowed_predict(predict_window, timeline: Timeline):
    """A `Predict` over the whole timeline from one that sees a single window.

    predict_window(x_win [B, C, 33, H, W], t, branch, step, window: Window) -> velocity of the window; the
    caller slices the window's audio with `window.audio` (RoPE stays 0..32 for every window, as the release).
    Velocities are averaged per frame over the windows covering it. The release averages the stepped latents
    instead; for an Euler step from one shared x_t the two are the same (it also rounds them to bf16, which we
    do not). Memory: one window's activations at a time, whatever the audio length.
    """

    def predict(x: torch.Tensor, t: torch.Tensor, branch: str, step: StepInfo) -> torch.Tensor:
        if x.shape[2] != timeline.latent_frames:
            raise ValueError(f"latents have {x.shape[2]} frames, the timeline {timeline.latent_frames}")
        v = torch.zeros_like(x)
        count = torch.zeros(x.shape[2], dtype=x.dtype, device=x.device)
        for n, (idx, aidx) in enumerate(window_indices(step.index, timeline)):
            idx = idx.to(x.device)
            out = predict_window(x.index_select(2, idx), t, branch, step, Window(n, idx, aidx))
            v.index_add_(2, idx, out.to(v.dtype))
            count.index_add_(0, idx, torch.ones_like(idx, dtype=x.dtype))
        return v / count.view(1, 1, -1, 1, 1)

    return predict
