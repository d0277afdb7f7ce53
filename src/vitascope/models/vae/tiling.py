"""Tiled encode/decode: overlapping spatial tiles and temporal windows, blended linearly.

Reproduces diffusers' `AutoencoderKLHunyuanVideo` tiler (tiled_encode / tiled_decode / _temporal_tiled_*),
including its quirks, so the same tile settings give the same numbers:
- tiles are blended in place, so a tile blends with neighbours that were already blended themselves;
- temporal windows take `tile_frames + 1` frames (one extra so each window starts on a full causal frame) and
  every window after the first drops its first output frame;
- spatial tiles are used inside a temporal window when the window is larger than one tile.
Sizes are in pixels / pixel frames; latent sizes follow by integer division by the compression ratios.
Tiling changes the output (the model is not translation- or chunk-invariant); see docs/vae.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from vitascope.errors import InvalidOptionError

if TYPE_CHECKING:
    from vitascope.models.vae.model import CausalVAE3D

Progress = Callable[[int, int], None]  # (frames done, frames in all)


@dataclass(frozen=True)
class TilingConfig:
    """diffusers names: tile_sample_min_{height,width,num_frames} and tile_sample_stride_{...}."""

    tile_height: int = 256
    tile_width: int = 256
    tile_frames: int = 16
    stride_height: int = 192
    stride_width: int = 192
    stride_frames: int = 12
    spatial: bool = True  # diffusers `use_tiling`
    temporal: bool = True  # diffusers `use_framewise_encoding/decoding`

    def __post_init__(self):
        for axis, unit in (("height", 8), ("width", 8), ("frames", 4)):
            tile, stride = getattr(self, f"tile_{axis}"), getattr(self, f"stride_{axis}")
            if tile < unit or stride < unit or tile % unit or stride % unit:
                raise InvalidOptionError(
                    f"tile_{axis}={tile} and stride_{axis}={stride} must be positive multiples of {unit} "
                    "(the VAE's compression along that axis)"
                )
            if stride > tile:
                raise InvalidOptionError(
                    f"stride_{axis}={stride} is larger than tile_{axis}={tile}: tiles would leave gaps; "
                    "use a stride no larger than the tile"
                )


def tiled_encode(vae: CausalVAE3D, x: torch.Tensor, cfg: TilingConfig) -> torch.Tensor:
    """x [B, C, F, H, W] -> moments [B, 2*16, T, h, w], choosing temporal, spatial or no tiling."""
    f, h, w = x.shape[2:]
    if cfg.temporal and f > cfg.tile_frames:
        return _temporal_encode(vae, x, cfg)
    if cfg.spatial and (h > cfg.tile_height or w > cfg.tile_width):
        return _spatial_encode(vae, x, cfg)
    return vae.encode_plain(x)


def tiled_decode(vae: CausalVAE3D, z: torch.Tensor, cfg: TilingConfig) -> torch.Tensor:
    """z [B, 16, T, h, w] -> video [B, 3, F, H, W], choosing temporal, spatial or no tiling."""
    chunks = list(iter_tiled_decode(vae, z, cfg))
    return chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=2)


def iter_tiled_decode(
    vae: CausalVAE3D, z: torch.Tensor, cfg: TilingConfig, progress: Progress | None = None
) -> Iterator[torch.Tensor]:
    """Yield the video of `tiled_decode` as pixel-frame chunks [B, 3, f, H, W], one per temporal window.

    A window's kept frames are final once it is blended with the window before it, so only that one window
    is held: memory is flat in the number of frames, and the concatenation equals `tiled_decode` exactly.
    `progress(frames_done, frames_total)` is called after each chunk.
    """
    rt, rs = vae.config.temporal_compression_ratio, vae.config.spatial_compression_ratio
    t, h, w = z.shape[2:]
    total = (t - 1) * rt + 1
    if cfg.temporal and t > cfg.tile_frames // rt:
        chunks = _temporal_decode(vae, z, cfg)
    elif cfg.spatial and (h > cfg.tile_height // rs or w > cfg.tile_width // rs):
        chunks = iter([_spatial_decode(vae, z, cfg)])
    else:
        chunks = iter([vae.decode_plain(z)])
    done = 0
    for chunk in chunks:
        done += chunk.shape[2]
        if progress is not None:
            progress(done, total)
        yield chunk


def blend_(a: torch.Tensor, b: torch.Tensor, extent: int, dim: int) -> torch.Tensor:
    """Cross-fade the end of `a` into the start of `b` along `dim`, writing into `b` (diffusers blend_v/h/t)."""
    extent = min(a.shape[dim], b.shape[dim], extent)
    if extent == 0:
        return b
    ramp = torch.arange(extent, dtype=torch.float64) / extent  # weight of b; computed like the scalar loop
    shape = [1] * b.ndim
    shape[dim] = extent
    w_b = ramp.to(b.device, b.dtype).view(shape)
    w_a = (1 - ramp).to(b.device, b.dtype).view(shape)
    head = b.narrow(dim, 0, extent)
    head.copy_(a.narrow(dim, a.shape[dim] - extent, extent) * w_a + head * w_b)
    return b


def _stitch_2d(rows: list[list[torch.Tensor]], blend_h: int, blend_w: int, keep_h: int, keep_w: int):
    """Blend each tile with the tile above and to its left, keep its top-left stride, and concatenate."""
    out_rows = []
    for i, row in enumerate(rows):
        kept = []
        for j, tile in enumerate(row):
            if i > 0:
                tile = blend_(rows[i - 1][j], tile, blend_h, dim=3)
            if j > 0:
                tile = blend_(row[j - 1], tile, blend_w, dim=4)
            kept.append(tile[:, :, :, :keep_h, :keep_w])
        out_rows.append(torch.cat(kept, dim=4))
    return torch.cat(out_rows, dim=3)


def _spatial_encode(vae: CausalVAE3D, x: torch.Tensor, cfg: TilingConfig) -> torch.Tensor:
    rs = vae.config.spatial_compression_ratio
    h, w = x.shape[3:]
    lat_tile_h, lat_tile_w = cfg.tile_height // rs, cfg.tile_width // rs
    lat_stride_h, lat_stride_w = cfg.stride_height // rs, cfg.stride_width // rs
    rows = [
        [
            vae.encode_plain(x[:, :, :, i : i + cfg.tile_height, j : j + cfg.tile_width])
            for j in range(0, w, cfg.stride_width)
        ]
        for i in range(0, h, cfg.stride_height)
    ]
    out = _stitch_2d(rows, lat_tile_h - lat_stride_h, lat_tile_w - lat_stride_w, lat_stride_h, lat_stride_w)
    return out[:, :, :, : h // rs, : w // rs]


def _spatial_decode(vae: CausalVAE3D, z: torch.Tensor, cfg: TilingConfig) -> torch.Tensor:
    rs = vae.config.spatial_compression_ratio
    h, w = z.shape[3:]
    lat_tile_h, lat_tile_w = cfg.tile_height // rs, cfg.tile_width // rs
    lat_stride_h, lat_stride_w = cfg.stride_height // rs, cfg.stride_width // rs
    rows = [
        [
            vae.decode_plain(z[:, :, :, i : i + lat_tile_h, j : j + lat_tile_w])
            for j in range(0, w, lat_stride_w)
        ]
        for i in range(0, h, lat_stride_h)
    ]
    blend_h, blend_w = cfg.tile_height - cfg.stride_height, cfg.tile_width - cfg.stride_width
    out = _stitch_2d(rows, blend_h, blend_w, cfg.stride_height, cfg.stride_width)
    return out[:, :, :, : h * rs, : w * rs]


def _stitch_time(windows: list[torch.Tensor], blend: int, keep: int, total: int) -> torch.Tensor:
    """Blend each window into the previous one; keep `keep` frames per window (+1 for the first)."""
    return torch.cat(list(_stitch_time_iter(iter(windows), blend, keep, total)), dim=2)


def _stitch_time_iter(windows: Iterator[torch.Tensor], blend: int, keep: int, total: int):
    """`_stitch_time` window by window: yields each window's kept frames and holds only the window before."""
    prev, emitted = None, 0
    for i, win in enumerate(windows):
        if prev is not None:
            win = blend_(prev, win, blend, dim=2)  # writes into the head of `win` only
        kept = win[:, :, : min(keep + (1 if i == 0 else 0), total - emitted)]
        emitted += kept.shape[2]
        prev = win
        yield kept
        if emitted >= total:  # later windows only overlap frames already past the end
            return


def _temporal_encode(vae: CausalVAE3D, x: torch.Tensor, cfg: TilingConfig) -> torch.Tensor:
    rt = vae.config.temporal_compression_ratio
    f, h, w = x.shape[2:]
    spatial = cfg.spatial and (h > cfg.tile_height or w > cfg.tile_width)
    windows = []
    for i in range(0, f, cfg.stride_frames):
        win = x[:, :, i : i + cfg.tile_frames + 1]
        moments = _spatial_encode(vae, win, cfg) if spatial else vae.encode_plain(win)
        windows.append(moments[:, :, 1:] if i > 0 else moments)
    lat_tile, lat_stride = cfg.tile_frames // rt, cfg.stride_frames // rt
    return _stitch_time(windows, lat_tile - lat_stride, lat_stride, (f - 1) // rt + 1)


def _temporal_decode(vae: CausalVAE3D, z: torch.Tensor, cfg: TilingConfig) -> Iterator[torch.Tensor]:
    rt = vae.config.temporal_compression_ratio
    t = z.shape[2]
    lat_tile, lat_stride = cfg.tile_frames // rt, cfg.stride_frames // rt
    windows = (_decode_window(vae, z, i, lat_tile, cfg) for i in range(0, t, lat_stride))
    blend = cfg.tile_frames - cfg.stride_frames
    return _stitch_time_iter(windows, blend, cfg.stride_frames, (t - 1) * rt + 1)


def _decode_window(
    vae: CausalVAE3D, z: torch.Tensor, i: int, lat_tile: int, cfg: TilingConfig
) -> torch.Tensor:
    """Latent frames [i, i + lat_tile] (one extra, so the window starts on a full causal frame) -> pixels."""
    rs = vae.config.spatial_compression_ratio
    win = z[:, :, i : i + lat_tile + 1]
    h, w = win.shape[3:]
    if cfg.spatial and (h > cfg.tile_height // rs or w > cfg.tile_width // rs):
        frames = _spatial_decode(vae, win, cfg)
    else:
        frames = vae.decode_plain(win)
    return frames[:, :, 1:] if i > 0 else frames
