"""How the pipeline decodes: the whole latent at once when it fits, temporal windows when it does not.

Why not always windows: a window restarts the VAE decoder's causal context, and its GroupNorm statistics
cover only the window's frames, so a windowed decode is not the untiled decode. For the real HunyuanVideo VAE
the difference is small (the reference code and diffusers tile by default); for a small VAE such as the
bundled demo's it is not: the frames decoded by the last window (13-16 of a 17-frame clip) changed colour in
a third of clips and took a tint (docs/long_video.md, "The last frames"). So `auto` decodes untiled whenever
the estimated peak fits the memory budget, and windows only when it must.
"""

from __future__ import annotations

import os

import torch

POLICIES = ("auto", "full", "windows")
PEAK_COPIES = 6  # live full-resolution activations of the last up block (resnet in/out, norm, conv, cat)


def decode_peak_bytes(vae_config, latent_shape: tuple[int, ...], dtype: torch.dtype) -> int:
    """Estimated peak bytes of an untiled decode of latents [B, C, T, h, w]."""
    B, _, T, h, w = latent_shape
    t, s = vae_config.temporal_compression_ratio, vae_config.spatial_compression_ratio
    frames, pixels = (T - 1) * t + 1, h * s * w * s
    width = max(vae_config.block_out_channels)  # the widest block at full resolution bounds every level
    return PEAK_COPIES * B * width * frames * pixels * torch.empty((), dtype=dtype).element_size()


def memory_budget(device: torch.device) -> int:
    """Bytes an untiled decode may use: half the free memory of a GPU, a quarter of the available host RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    try:
        import psutil

        return psutil.virtual_memory().available // 4
    except ImportError:  # psutil is optional: fall back on the page counts POSIX reports
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4


def use_windows(policy: str, vae_config, latent_shape, dtype, device, budget: int | None = None) -> bool:
    """True when the decode should run in temporal windows under `policy` (one of POLICIES)."""
    if policy not in POLICIES:
        raise ValueError(f"VAE decode policy must be one of {POLICIES}, got {policy!r}")
    if policy != "auto":
        return policy == "windows"
    budget = memory_budget(torch.device(device)) if budget is None else budget
    return decode_peak_bytes(vae_config, tuple(latent_shape), dtype) > budget
