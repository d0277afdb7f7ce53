"""How the pipeline decodes in time: the whole latent at once when it fits, temporal windows when it does not.

Why not always windows: a window restarts the VAE decoder's causal context, and its GroupNorm statistics
cover only the window's frames, so a windowed decode is not the untiled decode. For the real HunyuanVideo VAE
the difference is small (the reference code and diffusers tile by default); for a small VAE such as the
bundled demo's it is not: the frames decoded by the last window (13-16 of a 17-frame clip) changed colour in
a third of clips and took a tint (docs/long_video.md, "The last frames"). So `auto` decodes untiled whenever
the estimated peak fits the memory budget (the one `parallel.memory` reads: --memory-budget, free GPU memory,
available RAM), and windows only when it must; spatial tiles are then chosen per window by
`parallel.memory.choose_vae_tiling`.
"""

from __future__ import annotations

import torch

POLICIES = ("auto", "full", "windows")


def decode_peak_bytes(vae_config, latent_shape: tuple[int, ...], dtype: torch.dtype) -> int:
    """Estimated peak bytes of an untiled decode of latents [B, C, T, h, w] (the same rough model as the
    per-window estimate of `parallel.memory`, over every frame, plus the float32 output)."""
    from vitascope.parallel.memory import decode_bytes

    B, _, T, h, w = latent_shape
    t, s = vae_config.temporal_compression_ratio, vae_config.spatial_compression_ratio
    frames, height, width = (T - 1) * t + 1, h * s, w * s
    size = torch.empty((), dtype=dtype).element_size()
    return B * (decode_bytes(vae_config, frames, height, width, size) + 3 * frames * height * width * 4)


def use_windows(
    policy: str,
    vae_config,
    latent_shape,
    dtype,
    device,
    budget: int | None = None,
    budget_gib: float | None = None,
) -> bool:
    """True when the decode should run in temporal windows under `policy` (one of POLICIES). `budget` in bytes
    overrides the budget `parallel.memory.memory_budget(device, budget_gib)` reads."""
    if policy not in POLICIES:
        raise ValueError(f"VAE decode policy must be one of {POLICIES}, got {policy!r}")
    if policy != "auto":
        return policy == "windows"
    if budget is None:
        from vitascope.parallel.memory import memory_budget

        budget, _ = memory_budget(device, budget_gib)
    return decode_peak_bytes(vae_config, tuple(latent_shape), dtype) > budget
