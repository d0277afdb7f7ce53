"""Training clips from the synthetic world: pixels for the VAE, captions for the DiT.

Every clip is a pure function of (seed, index), so a run's data is fixed by its recipe seed and the step
(exact resume and multi-process runs that see the same samples as one process).
"""

from __future__ import annotations

import numpy as np
import torch

from vitascope.synthetic.captions import canonical_caption, caption_variants, structured_caption
from vitascope.synthetic.render import object_alpha, render
from vitascope.synthetic.world import SceneSpec, sample_scene


def world_scene(
    seed: int, frames: int, height: int, width: int, simple_fraction: float, travel_range=None
) -> SceneSpec:
    """One scene; with probability `simple_fraction` a single object on black with a static camera (the
    evaluator's setting), otherwise anything the world draws (`travel_range`: see sample_scene)."""
    rng = np.random.default_rng([seed, 7])
    if rng.random() < simple_fraction:
        return sample_scene(
            seed,
            frames,
            height,
            width,
            n_objects=1,
            camera="static",
            background="black",
            travel_range=travel_range,
        )
    return sample_scene(seed, frames, height, width, travel_range=travel_range)


def to_model_range(frames: np.ndarray) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> float [3, T, H, W] in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).float() / 127.5 - 1.0
    return x.permute(3, 0, 1, 2).contiguous()


def _window(*clip_args) -> tuple[SceneSpec, int, int]:
    """(scene, start, stride) of the VAE clip `vae_clip_frames(*clip_args)` (see there)."""
    seed, frames, height, width, interval_range, simple_fraction, *rest = clip_args
    scene_frames = rest[0] if rest else None
    rng = np.random.default_rng([seed, 11])
    lo, hi = interval_range
    k = int(rng.integers(lo, hi + 1)) if frames > 1 else 1
    if scene_frames is None:
        total = (frames - 1) * hi + 1
    else:  # objects move at the speed of a `scene_frames` clip (the generator's), k-fold faster at stride k
        total = max(scene_frames, frames)
        k = min(k, (total - 1) // max(frames - 1, 1)) if frames > 1 else 1
    spec = world_scene(seed, total, height, width, simple_fraction)
    start = int(rng.integers(0, total - (frames - 1) * k))
    return spec, start, k


def vae_clip_frames(
    seed: int,
    frames: int,
    height: int,
    width: int,
    interval_range: tuple[int, int],
    simple_fraction: float,
    scene_frames: int | None = None,
) -> np.ndarray:
    """uint8 [frames, H, W, 3] sampled with a random frame interval: the world clip is rendered
    (frames-1)*k_max+1 frames long (or `scene_frames`) and a stride-k window of it kept, k drawn from
    `interval_range`, so the VAE sees the same motion at several speeds (the paper's random intervals 1-8 on
    real video)."""
    spec, start, k = _window(seed, frames, height, width, interval_range, simple_fraction, scene_frames)
    return render(spec)[start : start + (frames - 1) * k + 1 : k]


def vae_clip_weight(clip_args: tuple, fg_weight: float) -> torch.Tensor:
    """Per-pixel loss weight [1, frames, H, W] of the clip `vae_clip_frames(*clip_args)`: 1 + fg_weight on
    the objects' pixels.

    Objects cover ~3% of a demo frame; weighting them keeps a per-pixel loss from spending itself on the
    background, which the VAE reproduces early (their colour is what the analyzer and users look at)."""
    spec, start, k = _window(*clip_args)
    frames = clip_args[1]
    cover = np.max([object_alpha(spec, i) for i in range(len(spec.objects))], axis=0)  # [T, H, W]
    cover = cover[start : start + (frames - 1) * k + 1 : k]
    return torch.from_numpy(1.0 + fg_weight * cover.astype(np.float32))[None]


def vae_clip(
    seed: int, frames: int, height: int, width: int, interval_range: tuple[int, int], simple_fraction: float
) -> torch.Tensor:
    """`vae_clip_frames` as a [3, frames, H, W] float clip in [-1, 1]."""
    return to_model_range(vae_clip_frames(seed, frames, height, width, interval_range, simple_fraction))


def dit_caption(spec: SceneSpec, rng: np.random.Generator, canonical_fraction: float) -> str:
    """The canonical sentence, or (1 - canonical_fraction) of the time a structured-caption variant (fields
    dropped and permuted, paper §3.2)."""
    if rng.random() < canonical_fraction:
        return canonical_caption(spec)
    return caption_variants(structured_caption(spec), rng)
