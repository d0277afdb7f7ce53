"""How the pipeline decodes in time: the whole latent at once, exact streaming, or temporal windows.

Why not always windows: a window restarts the VAE decoder's causal context, and its GroupNorm statistics
cover only the window's frames, so a windowed decode is not the untiled decode. For the real HunyuanVideo VAE
the difference is small (the reference code and diffusers tile by default); for a small VAE such as the
bundled demo's it is not: the frames decoded by the last window (13-16 of a 17-frame clip) changed colour in
a third of clips and took a tint (docs/long_video.md, "The last frames"). So `auto` decodes untiled whenever
the estimated peak fits the memory budget (the one `parallel.memory` reads: --memory-budget, free GPU memory,
available RAM), and windows only when it must; spatial tiles are then chosen per window by
`parallel.memory.choose_vae_tiling`.

A video longer than the model's native clip must not cost memory in proportion to its length (a 10x video
would otherwise hold ten clips' decoder activations). For those `auto` streams the decode
(`CausalVAE3D.decode_streaming(exact=True)`): chunks of latent frames, memory flat in the length, and the
same frames as the untiled decode, at 3.5-5x its compute (docs/vae.md); windows remain the fallback when a
chunk would not fit or spatial tiles are needed (streaming does not tile in space).
"""

from __future__ import annotations

import torch

POLICIES = ("auto", "full", "windows", "stream")
STREAM_CHUNK = 4  # latent frames per streamed chunk (16 pixel frames, about the windows' 17)


def decode_peak_bytes(vae_config, latent_shape: tuple[int, ...], dtype: torch.dtype) -> int:
    """Estimated peak bytes of an untiled decode of latents [B, C, T, h, w] (the same rough model as the
    per-window estimate of `parallel.memory`, over every frame, plus the float32 output)."""
    from vitascope.parallel.memory import decode_bytes

    B, _, T, h, w = latent_shape
    t, s = vae_config.temporal_compression_ratio, vae_config.spatial_compression_ratio
    frames, height, width = (T - 1) * t + 1, h * s, w * s
    size = torch.empty((), dtype=dtype).element_size()
    return B * (decode_bytes(vae_config, frames, height, width, size) + 3 * frames * height * width * 4)


def decode_method(
    policy: str,
    vae_config,
    latent_shape,
    dtype,
    device,
    budget: int | None = None,
    budget_gib: float | None = None,
    native_latents: int | None = None,
    spatial_tiles: bool = False,
) -> str:
    """"full", "stream" or "windows": how to decode latents [B, C, T, h, w] under `policy` (one of POLICIES).

    native_latents: the model's native clip in latent frames; a longer video is streamed under `auto` (None:
    no length rule). spatial_tiles: spatial tiling is on, which only windows combine with. `budget` in bytes
    overrides the budget `parallel.memory.memory_budget(device, budget_gib)` reads."""
    if policy not in POLICIES:
        raise ValueError(f"VAE decode policy must be one of {POLICIES}, got {policy!r}")
    if policy == "stream" and spatial_tiles:
        return "windows"
    if policy != "auto":
        return policy
    if budget is None:
        from vitascope.parallel.memory import memory_budget

        budget, _ = memory_budget(device, budget_gib)
    B, C, T, h, w = tuple(latent_shape)
    if native_latents is not None and T > native_latents:
        chunk = decode_peak_bytes(vae_config, (B, C, min(T, STREAM_CHUNK + 1), h, w), dtype)
        return "stream" if not spatial_tiles and chunk <= budget else "windows"
    return "windows" if decode_peak_bytes(vae_config, tuple(latent_shape), dtype) > budget else "full"


def iter_decoded(vae, z: torch.Tensor, method: str, tiling, progress=None):
    """Pixel chunks [B, 3, f, H, W] of latents z (already unscaled) decoded by `method` ("full", "windows" or
    "stream"); `tiling` is the TilingConfig for "windows"/"full" (its temporal flag is set from `method`).
    progress(frames_done, frames_total)."""
    import dataclasses

    if method != "stream":
        cfg = dataclasses.replace(tiling, temporal=method == "windows")
        yield from vae.iter_decode(z, cfg, progress)
        return
    total = (z.shape[2] - 1) * vae.config.temporal_compression_ratio + 1
    done = 0
    for x in vae.decode_streaming(z, chunk_latent_frames=STREAM_CHUNK, exact=True):
        done += x.shape[2]
        if progress is not None:
            progress(done, total)
        yield x
