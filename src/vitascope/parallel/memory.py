"""Spatial VAE tiling chosen from the memory there is, with a decision a user can read.

    decision = choose_vae_tiling(vae_config, frames, height, width, device, dtype_bytes, budget_gib=None)
    pipe.vae_tiling = decision.tiling or False          # a TilingConfig with spatial tiles, or none
    print(decision.describe())                          # `vitascope generate --plan` prints it

The budget is, in this order: the user's `--memory-budget GIB`; on CUDA the free memory
(`torch.cuda.mem_get_info`, measured after the weights are placed, so it is what the decode can use); on the
CPU the available system memory (psutil). The decode of one temporal window (the pipelines always decode in
16-frame windows) is estimated without tiles; when that does not fit in the budget, the largest square tile
(256, 192, 128, 96 or 64 pixels; stride three quarters of the tile) whose estimate fits is chosen, or the
smallest when none does (and the decision says so).

The estimate is rough by design: the decoder's widest full-resolution stage (block_out_channels[0] channels)
over the window's frames, times ACTIVATION_COPIES live tensors of that size (input, convolution output,
normalisation and the causal padding copy), plus the float32 window of output pixels the tiles blend into.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vitascope.errors import InvalidOptionError

ACTIVATION_COPIES = 4
TILES = (256, 192, 128, 96, 64)  # pixels, largest first


@dataclass(frozen=True)
class TilingDecision:
    tiling: object | None  # a models.vae.TilingConfig with spatial tiles, or None (temporal windows only)
    budget: int  # bytes
    source: str  # where the budget came from
    untiled: int  # estimated decode peak without spatial tiles, bytes
    tiled: int | None = None  # the same with the chosen tiles
    fits: bool = True

    def describe(self) -> str:
        gib = 2**30
        head = (
            f"vae decode: estimate {self.untiled / gib:.2f} GiB untiled per 16-frame window, "
            f"budget {self.budget / gib:.2f} GiB ({self.source})"
        )
        if self.tiling is None:
            return f"{head} -> no spatial tiles"
        t = self.tiling
        tail = f" -> spatial tiles {t.tile_height}x{t.tile_width} px, stride {t.stride_height} ({self.tiled / gib:.2f} GiB)"
        return head + tail + ("" if self.fits else "; does not fit even so: lower the size or free memory")


def memory_budget(device, budget_gib: float | None = None) -> tuple[int, str]:
    """(bytes, source) the VAE decode may use on `device`."""
    if budget_gib is not None:
        if not budget_gib > 0:
            raise InvalidOptionError(f"--memory-budget must be a positive number of GiB, got {budget_gib}")
        return int(budget_gib * 2**30), "--memory-budget"
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free), f"free on {device} (torch.cuda.mem_get_info)"
    try:
        import psutil  # arrives with the train/serve extras (through accelerate); not a core dependency
    except ImportError:
        pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return int(pages), "available system memory (sysconf)"
    return int(psutil.virtual_memory().available), "available system memory (psutil)"


def decode_bytes(vae_config, frames: int, height: int, width: int, dtype_bytes: int) -> int:
    """Rough peak of decoding one temporal window of `frames` pixel frames of height x width pixels."""
    channels = vae_config.block_out_channels[0]
    act = ACTIVATION_COPIES * channels * frames * height * width * dtype_bytes
    return act


def choose_vae_tiling(
    vae_config,
    frames: int,
    height: int,
    width: int,
    device,
    dtype_bytes: int,
    budget_gib: float | None = None,
) -> TilingDecision:
    """Spatial tiles when the untiled decode of one window would not fit in the budget (see the module)."""
    from vitascope.models.vae import TilingConfig

    budget, source = memory_budget(device, budget_gib)
    window = min(frames, TilingConfig().tile_frames + 1)  # a window takes tile_frames + 1 pixel frames
    out = 3 * window * height * width * 4  # the blended float32 output window
    untiled = decode_bytes(vae_config, window, height, width, dtype_bytes) + out
    if untiled <= budget:
        return TilingDecision(None, budget, source, untiled)
    for tile in TILES:
        tiled = decode_bytes(vae_config, window, min(tile, height), min(tile, width), dtype_bytes) + out
        if tiled <= budget or tile == TILES[-1]:
            stride = tile * 3 // 4
            cfg = TilingConfig(tile_height=tile, tile_width=tile, stride_height=stride, stride_width=stride)
            return TilingDecision(cfg, budget, source, untiled, tiled, fits=tiled <= budget)
    raise AssertionError("unreachable")


__all__ = ["TilingDecision", "choose_vae_tiling", "decode_bytes", "memory_budget"]
