"""The causal 3D VAE of HunyuanVideo (884-16c): encoder, decoder and the `CausalVAE3D` wrapper.

Video [B, 3, F, H, W] in [-1, 1] with F = 4k + 1  <->  latent [B, 16, T, H/8, W/8] with T = (F - 1) / 4 + 1.
Latents in and out of this module are UNSCALED; pipelines multiply by `config.scaling_factor` after encoding
and divide before decoding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitascope.errors import InvalidOptionError
from vitascope.models.vae.config import VAEConfig
from vitascope.models.vae.layers import CausalConv3d, DownBlock3D, MidBlock3D, UpBlock3D
from vitascope.models.vae.tiling import TilingConfig, iter_tiled_decode, tiled_encode


class Encoder3D(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        chans, groups = cfg.block_out_channels, cfg.norm_num_groups
        self.conv_in = CausalConv3d(cfg.in_channels, chans[0], 3)
        self.down_blocks = nn.ModuleList()
        for i, out_c in enumerate(chans):
            t, s = cfg.stage_factors(i)
            in_c = chans[max(i - 1, 0)]
            self.down_blocks.append(DownBlock3D(in_c, out_c, cfg.layers_per_block, groups, (t, s, s)))
        self.mid_block = MidBlock3D(chans[-1], groups, cfg.mid_block_add_attention)
        self.conv_norm_out = nn.GroupNorm(groups, chans[-1], eps=1e-6)
        self.conv_out = CausalConv3d(chans[-1], 2 * cfg.latent_channels, 3)  # mean and logvar

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for block in self.down_blocks:
            x = block(x)
        x = self.mid_block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class Decoder3D(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        chans, groups = cfg.block_out_channels, cfg.norm_num_groups
        rev = chans[::-1]
        self.conv_in = CausalConv3d(cfg.latent_channels, rev[0], 3)
        self.mid_block = MidBlock3D(rev[0], groups, cfg.mid_block_add_attention)
        self.up_blocks = nn.ModuleList()
        for i, out_c in enumerate(rev):
            t, s = cfg.stage_factors(i)
            in_c = rev[max(i - 1, 0)]
            # the decoder has one resnet more per block than the encoder (official layout)
            self.up_blocks.append(UpBlock3D(in_c, out_c, cfg.layers_per_block + 1, groups, (t, s, s)))
        self.conv_norm_out = nn.GroupNorm(groups, chans[0], eps=1e-6)
        self.conv_out = CausalConv3d(chans[0], cfg.out_channels, 3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.mid_block(self.conv_in(z))
        for block in self.up_blocks:
            x = block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class CausalVAE3D(nn.Module):
    """HunyuanVideo's VAE with diffusers-identical numerics, optional tiling and a streaming decoder."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder3D(config)
        self.decoder = Decoder3D(config)
        c = config.latent_channels
        self.quant_conv = nn.Conv3d(2 * c, 2 * c, kernel_size=1)
        self.post_quant_conv = nn.Conv3d(c, c, kernel_size=1)
        self.tiling: TilingConfig | None = None

    @property
    def dtype(self) -> torch.dtype:
        return self.post_quant_conv.weight.dtype

    # tiling -------------------------------------------------------------------------------------------

    def enable_tiling(self, tiling: TilingConfig | None = None, **overrides) -> None:
        """Encode/decode in overlapping tiles, blended like diffusers' tiler (defaults 256 px / 16 frames).

        Pass a `TilingConfig` or its fields as keywords, e.g. `enable_tiling(tile_height=128, stride_height=96)`.
        """
        base = tiling or TilingConfig()
        self.tiling = dataclasses.replace(base, **overrides)

    def disable_tiling(self) -> None:
        self.tiling = None

    def _tiling(self, tiling: TilingConfig | bool | None) -> TilingConfig | None:
        """A per-call tiling argument: None -> the model's setting, False -> none, True -> the defaults."""
        if tiling is None:
            return self.tiling
        if isinstance(tiling, bool):
            return TilingConfig() if tiling else None
        return tiling

    # encode -------------------------------------------------------------------------------------------

    def encode_moments(
        self, x: torch.Tensor, tiling: TilingConfig | bool | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, C, F, H, W] -> (mean, logvar), each [B, 16, T, H/8, W/8]; logvar clamped to [-30, 20].

        `tiling` as in `decode` (None: the model's setting)."""
        self._check_video(x)
        x = x.to(self.dtype)
        cfg = self._tiling(tiling)
        if cfg is not None:
            moments = tiled_encode(self, x, cfg)
        else:
            moments = self.encode_plain(x)
        mean, logvar = moments.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def encode_plain(self, x: torch.Tensor) -> torch.Tensor:
        """Untiled encoder + quant_conv: [B, C, F, H, W] -> moments [B, 32, T, h, w]."""
        return self.quant_conv(self.encoder(x))

    def encode(
        self,
        x: torch.Tensor,
        sample: bool = False,
        generator: torch.Generator | None = None,
        tiling: TilingConfig | bool | None = None,
    ):
        """Video in [-1, 1] -> unscaled latent: the posterior mean, or a sample when `sample=True`.

        Sampling draws `torch.randn` on the generator's device with the latent's dtype, as diffusers does,
        so the same seeded generator gives the same sample.
        """
        mean, logvar = self.encode_moments(x, tiling)
        if not sample:
            return mean
        device = generator.device if generator is not None else mean.device
        noise = torch.randn(mean.shape, generator=generator, device=device, dtype=mean.dtype).to(mean.device)
        return mean + torch.exp(0.5 * logvar) * noise

    # decode -------------------------------------------------------------------------------------------

    def decode(self, z: torch.Tensor, tiling: TilingConfig | bool | None = None) -> torch.Tensor:
        """Unscaled latent [B, 16, T, h, w] -> video [B, 3, 4(T-1)+1, 8h, 8w] (roughly in [-1, 1]).

        `tiling`: None uses the model's setting (`enable_tiling`), False decodes untiled, True the default
        tiles, a `TilingConfig` those tiles; the model's own setting is never changed.
        """
        chunks = list(self.iter_decode(z, tiling))
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=2)

    def iter_decode(
        self,
        z: torch.Tensor,
        tiling: TilingConfig | bool | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[torch.Tensor]:
        """`decode` as pixel-frame chunks [B, 3, f, H, W], one per temporal window (a single chunk untiled).

        With temporal tiling only one window is alive at a time, so memory does not grow with the frames;
        the chunks concatenate to exactly `decode(z, tiling)`. `progress(frames_done, frames_total)`.
        """
        self._check_latent(z)
        z = z.to(self.dtype)
        untiled = TilingConfig(spatial=False, temporal=False)
        return iter_tiled_decode(self, z, self._tiling(tiling) or untiled, progress)

    def decode_plain(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(z))

    def decode_streaming(
        self, z: torch.Tensor, chunk_latent_frames: int = 4, exact: bool = True
    ) -> Iterator[torch.Tensor]:
        """Yield the decoded video as pixel-frame chunks [B, 3, f, H, W]; memory stays flat as the video grows.

        `exact=True` equals `decode` (untiled) to float rounding but costs several decodes of compute;
        `exact=False` is one strictly causal pass that differs from it (GroupNorm statistics of the frames seen
        so far). See `vitascope.models.vae.streaming` for the method and docs/vae.md for figures.
        """
        from vitascope.models.vae.streaming import decode_streaming

        self._check_latent(z)
        return decode_streaming(self, z.to(self.dtype), chunk_latent_frames, exact)

    def forward(self, x: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None):
        """Reconstruct: encode (mean or sample) then decode."""
        return self.decode(self.encode(x, sample=sample, generator=generator))

    # checks -------------------------------------------------------------------------------------------

    def _check_video(self, x: torch.Tensor) -> None:
        cfg = self.config
        if x.ndim != 5 or x.shape[1] != cfg.in_channels:
            raise InvalidOptionError(
                f"VAE encode expects a video [B, {cfg.in_channels}, F, H, W], got shape {tuple(x.shape)}; "
                "add a frame axis for images (x[:, :, None])"
            )
        f, h, w = x.shape[2:]
        t, s = cfg.temporal_compression_ratio, cfg.spatial_compression_ratio
        if (f - 1) % t or h % s or w % s:
            raise InvalidOptionError(
                f"VAE encode needs {t}k+1 frames and height/width divisible by {s}; got F={f}, H={h}, W={w}. "
                "Trim or pad the video first"
            )

    def _check_latent(self, z: torch.Tensor) -> None:
        c = self.config.latent_channels
        if z.ndim != 5 or z.shape[1] != c:
            raise InvalidOptionError(
                f"VAE decode expects latents [B, {c}, T, h, w], got shape {tuple(z.shape)}"
            )
