"""Configuration of the causal 3D VAE "884-16c" (spec §1.10).

Field names follow diffusers' `AutoencoderKLHunyuanVideo` config, so a diffusers `config.json` maps 1:1;
`from_json_dict` also reads Tencent's `config.json` (`time_compression_ratio`, `sample_size`, ...).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any

from vitascope.errors import InvalidOptionError

log = logging.getLogger(__name__)

# Both spellings name the same block: Tencent's original class names and diffusers' renamed ones.
DOWN_BLOCK_TYPES = ("DownEncoderBlockCausal3D", "HunyuanVideoDownBlock3D")
UP_BLOCK_TYPES = ("UpDecoderBlockCausal3D", "HunyuanVideoUpBlock3D")

# Keys that describe the file or the official tiler, not the network; read and dropped.
_BOOKKEEPING = {"sample_size", "sample_tsize", "force_upcast", "shift_factor", "dropout"}
# Tencent name -> our (diffusers) name.
_RENAMES = {"time_compression_ratio": "temporal_compression_ratio"}


@dataclass(frozen=True)
class VAEConfig:
    in_channels: int = 3
    out_channels: int = 3
    latent_channels: int = 16
    block_out_channels: tuple[int, ...] = (128, 256, 512, 512)
    layers_per_block: int = 2  # encoder resnets per block; the decoder uses one more
    norm_num_groups: int = 32
    act_fn: str = "silu"
    scaling_factor: float = 0.476986  # pipelines multiply after encode and divide before decode
    temporal_compression_ratio: int = 4
    spatial_compression_ratio: int = 8
    mid_block_add_attention: bool = True

    def __post_init__(self):
        object.__setattr__(self, "block_out_channels", tuple(int(c) for c in self.block_out_channels))
        n = len(self.block_out_channels)
        if self.act_fn not in ("silu", "swish"):
            raise InvalidOptionError(
                f"VAE act_fn must be 'silu' (the only one HunyuanVideo uses), got {self.act_fn!r}"
            )
        if n < 3:
            raise InvalidOptionError(
                f"block_out_channels needs at least 3 blocks for 4x time compression, got {n}"
            )
        for name in ("in_channels", "out_channels", "latent_channels", "layers_per_block", "norm_num_groups"):
            if int(getattr(self, name)) < 1:
                raise InvalidOptionError(f"VAE {name} must be >= 1, got {getattr(self, name)}")
        for c in self.block_out_channels:
            if c % self.norm_num_groups:
                raise InvalidOptionError(
                    f"norm_num_groups={self.norm_num_groups} must divide every entry of block_out_channels "
                    f"{self.block_out_channels}; pick a common divisor"
                )
        if self.temporal_compression_ratio != 4:
            raise InvalidOptionError(
                f"temporal_compression_ratio must be 4 (the 884 VAE), got {self.temporal_compression_ratio}"
            )
        s = self.spatial_compression_ratio
        if s < 1 or (s & (s - 1)) or int(math.log2(s)) > n:
            raise InvalidOptionError(
                f"spatial_compression_ratio must be a power of two up to 2**{n} (one halving per block), got {s}"
            )
        if self.scaling_factor <= 0:
            raise InvalidOptionError(f"scaling_factor must be positive, got {self.scaling_factor}")

    # derived layout ------------------------------------------------------------------------------------

    @property
    def num_spatial_stages(self) -> int:
        return int(math.log2(self.spatial_compression_ratio))

    @property
    def num_temporal_stages(self) -> int:
        return int(math.log2(self.temporal_compression_ratio))

    def stage_factors(self, i: int) -> tuple[int, int]:
        """(time, space) factor of down block i (and of up block i, which mirrors it).

        Matches the official placement: space halves in the first blocks, time in the blocks just before the last.
        """
        n = len(self.block_out_channels)
        is_last = i == n - 1
        space = 2 if i < self.num_spatial_stages else 1
        time = 2 if (i >= n - 1 - self.num_temporal_stages and not is_last) else 1
        return time, space

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(T, H, W) of the latent for a video of `frames` x `height` x `width` pixels."""
        t = self.temporal_compression_ratio
        s = self.spatial_compression_ratio
        return (frames - 1) // t + 1, height // s, width // s

    # presets and serialisation -------------------------------------------------------------------------

    @classmethod
    def tiny(cls) -> VAEConfig:
        """A few-thousand-parameter VAE with the real layout (16 latent channels, 4x8x8); fast on CPU."""
        return cls(block_out_channels=(8, 16, 16, 16), layers_per_block=1, norm_num_groups=4)

    def to_json_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["block_out_channels"] = list(self.block_out_channels)
        return {"_class_name": "CausalVAE3D", **d}

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> VAEConfig:
        """Read our, diffusers' or Tencent's `config.json` content.

        Keys starting with "_" and the official tiler's `sample_size`/`sample_tsize` are dropped; block type
        lists are checked (HunyuanVideo 1.0 names only) and dropped; unknown keys are logged and ignored.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in d.items():
            key = _RENAMES.get(key, key)
            if key in fields:
                kwargs[key] = value
            elif key in ("down_block_types", "up_block_types"):
                _check_block_types(key, value)
            elif key.startswith("_") or key in _BOOKKEEPING:
                if key == "shift_factor" and value not in (None, 0, 0.0):
                    log.warning(
                        "VAE config has shift_factor=%s; HunyuanVideo 1.0 uses none, ignoring it", value
                    )
            else:
                log.warning("ignoring unknown VAE config key %r", key)
        if "block_out_channels" in kwargs:
            kwargs["block_out_channels"] = tuple(kwargs["block_out_channels"])
        n_blocks = len(kwargs.get("block_out_channels", cls.block_out_channels))
        for key in ("down_block_types", "up_block_types"):
            if key in d and len(d[key]) != n_blocks:
                raise InvalidOptionError(
                    f"VAE config: {key} has {len(d[key])} entries but there are {n_blocks} blocks"
                )
        return cls(**kwargs)


def _check_block_types(key: str, value) -> None:
    allowed = DOWN_BLOCK_TYPES if key == "down_block_types" else UP_BLOCK_TYPES
    bad = [v for v in value if v not in allowed]
    if bad:
        raise InvalidOptionError(
            f"VAE config {key} contains {bad}; only the HunyuanVideo 1.0 causal blocks {allowed} are supported "
            "(HunyuanVideo-1.5 uses a different VAE)"
        )
