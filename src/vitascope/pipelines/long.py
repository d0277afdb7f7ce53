"""Videos far longer than the model's native clip: context windows over the latent timeline, training-free.

`sample_long` is step 4 of `VideoPipeline.generate` for any length. It chooses a plan from the options
(`extra["window"]`: "musev", "shifted", "shifted-loop" or "none"; MuseV by default when the video is longer
than one native clip) and runs the one sampler (`sample_dit`) with a `wrap_predict` that splits the timeline
into native-length windows (`flow.windows`), each with a clean vision-condition frame put before it:

- I2V through token replace: the input image's latent is the condition of every window (MuseV's first frame);
- T2V on a model that does token replace: the first native clip is generated plainly, and its first latent
  frame becomes the condition of every window of the long run (MuseV's "first-frame redraw");
- models without token replace: plain windows, no condition frame.

Each window holds the condition frame plus `native - 1` frames (the native clip length the DiT was trained
on, with its own RoPE positions 0..native-1), so one window covering the clip is exactly the plain sampler.
RIFLEx (`extra["riflex"]`) instead lengthens one whole clip (`--window none`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from vitascope.errors import InvalidOptionError
from vitascope.flow.sampler import Predict, StepInfo
from vitascope.flow.windows import Schedule, overlapping_windows, shifted_windows, windowed_predict
from vitascope.pipelines.denoise import sample_dit

log = logging.getLogger(__name__)

WINDOW_KINDS = ("musev", "shifted", "shifted-loop", "none")


@dataclass(frozen=True)
class LongPlan:
    kind: str  # one of WINDOW_KINDS
    native: int  # the model's native clip, in latent frames
    latent_frames: int  # the whole video, in latent frames
    size: int = 0  # latent frames per window, not counting the condition frame
    overlap: int = 0  # musev: frames shared by neighbouring windows
    shift: int = 0  # shifted: how far the seams move per step
    context: str | None = None  # "image", "first clip" or None
    riflex: bool = False

    def schedule(self) -> Schedule:
        if self.kind == "musev":
            return overlapping_windows(self.size, self.overlap)
        return shifted_windows(self.size, self.shift, circular=self.kind == "shifted-loop")


def plan_long(extra: dict, native: int, latent_frames: int, mode: str | None, has_image: bool) -> LongPlan:
    """The window plan for a video of `latent_frames` on a model whose clips are `native` latent frames."""
    riflex = bool(extra.get("riflex", False))
    kind = extra.get("window") or ("musev" if latent_frames > native and not riflex else "none")
    if kind not in WINDOW_KINDS:
        raise InvalidOptionError(f"window must be one of {', '.join(WINDOW_KINDS)}, got {kind!r}")
    if kind == "none":
        return LongPlan("none", native, latent_frames, riflex=riflex)
    if riflex:
        raise InvalidOptionError("--riflex lengthens one whole clip: use it with --window none")
    if mode == "latent_concat":
        raise InvalidOptionError("windows need a text-to-video or token-replace model, not latent concat")
    context = ("image" if has_image else "first clip") if mode == "token_replace" else None
    size = native - 1 if context else native
    if size < 1:
        raise InvalidOptionError(f"a native clip of {native} latent frame(s) is too short for windows")
    overlap = int(extra.get("window_overlap", size // 2))
    if not 0 <= overlap < size:
        raise InvalidOptionError(f"window_overlap must be in [0, {size - 1}], got {overlap}")
    return LongPlan(kind, native, latent_frames, size, overlap, max(1, size // 2), context)


def context_windows(schedule: Schedule, on_call: Callable[[str], None]) -> Callable[[Predict], Predict]:
    """A `wrap_predict`: latent frame 0 of the state is the clean condition frame (pinned by token replace);
    frames 1.. are split into windows, each run with frame 0 before it, and their velocities averaged."""

    def wrap(inner: Predict) -> Predict:
        def counted(x, t, branch, step):
            on_call(branch)
            # the frames this call sees, in the whole timeline: the condition frame 0, then the window
            frames = (0, *(i + 1 for i in step.window))
            return inner(x, t, branch, dataclasses.replace(step, window=frames))

        def predict(x: torch.Tensor, t: torch.Tensor, branch: str, step: StepInfo) -> torch.Tensor:
            ctx = x[:, :, :1]  # [B, C, 1, H, W]
            v = windowed_predict(counted, schedule, context=ctx)(x[:, :, 1:], t, branch, step)
            return torch.cat([torch.zeros_like(v[:, :, :1]), v], dim=2)

        return predict

    return wrap


def plain_windows(schedule: Schedule, on_call: Callable[[str], None]) -> Callable[[Predict], Predict]:
    """A `wrap_predict` for models without token replace: windows over the whole timeline, no condition."""

    def wrap(inner: Predict) -> Predict:
        def counted(x, t, branch, step):
            on_call(branch)
            return inner(x, t, branch, step)

        return windowed_predict(counted, schedule)

    return wrap


def window_record(plan: LongPlan, steps: int) -> dict:
    """What the sidecar keeps: the plan, and each step's windows as latent frame indices of the video (the
    condition frame, when there is one, is latent frame 0 and comes before every window)."""
    offset = 1 if plan.context else 0
    T = plan.latent_frames - offset
    sched = plan.schedule()
    per_step = [
        [[i + offset for i in w] for w in sched(StepInfo(s, steps, 0.0, 0.0), T)] for s in range(steps)
    ]
    first = per_step[0]
    return {
        **asdict(plan),
        "windows_per_step": [len(w) for w in per_step],
        "latent_windows": per_step,
        # pixel frames of step 0's windows: latent 0 is frame 0, latent k > 0 is frames 4k-3 .. 4k
        "pixel_ranges": [[max(0, 4 * w[0] - 3), 4 * w[-1]] for w in first],
    }


def sample_long(
    pipe,
    opts,
    cond,
    uncond,
    latents,
    image_latents,
    mode,
    progress=None,
    should_stop=None,
    wrap_predict: Callable[[Predict], Predict] | None = None,
    frame_inputs: dict[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, dict | None]:
    """Denoise `latents` [1, C, T, h, w] of any length; returns (latents, the window record or None).

    wrap_predict (a step cache, a call counter) wraps the per-window DiT call; frame_inputs (a variant's
    per-latent-frame inputs over the whole timeline, e.g. pose latents) are cut to each window's frames."""
    ft = pipe.latent_scale[0]
    native = (pipe.defaults.frames - 1) // ft + 1
    T = latents.shape[2]
    plan = plan_long(opts.extra, native, T, mode if mode else pipe.i2v_mode, image_latents is not None)
    kw = dict(
        steps=opts.steps,
        shift=opts.flow_shift,
        guidance=opts.guidance,
        cfg_scale=opts.cfg_scale,
        dtype=pipe.dtype,  # the stated compute dtype: a parameter probe is wrong once fp8 or offload apply
        should_stop=should_stop,
        # CFG in parallel (set by parallel.speed.start_sequence_parallel): outside the windows and the cache
        wrap_guided=getattr(getattr(pipe, "cfg_parallel", None), "wrap", None),
        frame_inputs=frame_inputs,
    )
    user_wrap = wrap_predict or (lambda p: p)
    if plan.kind == "none":
        if plan.riflex:
            pipe.dit.set_riflex(native, T)
        try:
            out = sample_dit(
                pipe.dit,
                latents,
                cond,
                uncond,
                image_latents=image_latents,
                mode=mode,
                progress=progress,
                wrap_predict=wrap_predict,
                **kw,
            )
        finally:
            if plan.riflex:
                pipe.dit.set_riflex(None)
        return out, (
            {"kind": "none", "native": native, "latent_frames": T, "riflex": True} if plan.riflex else None
        )

    record = window_record(plan, opts.steps)
    first_pass = opts.steps if plan.context == "first clip" else 0
    total = first_pass + sum(record["windows_per_step"])
    done = {"n": 0}

    def tick(n: int) -> None:
        done["n"] = n
        if progress is not None:
            progress(n, total)

    def on_call(branch: str) -> None:
        if branch == "cond":
            tick(done["n"] + 1)

    if plan.context == "first clip":  # T2V: the first native clip gives the condition frame
        first = sample_dit(
            pipe.dit,
            latents[:, :, :native],
            cond,
            uncond,
            progress=lambda i, n: tick(i),
            wrap_predict=wrap_predict,
            **{**kw, "frame_inputs": {k: v[:, :, :native] for k, v in (frame_inputs or {}).items()}},
        )
        image_latents = first[:, :, :1]
        mode = "token_replace"
    windows = (context_windows if plan.context else plain_windows)(plan.schedule(), on_call)
    log.info(
        "%s windows: %d latent frames, %d per window (+%s), %d window calls",
        plan.kind,
        T,
        plan.size,
        plan.context or "no condition",
        sum(record["windows_per_step"]),
    )
    out = sample_dit(
        pipe.dit,
        latents,
        cond,
        uncond,
        image_latents=image_latents,
        mode=mode,
        wrap_predict=lambda p: windows(user_wrap(p)),
        **kw,
    )
    return out, record
