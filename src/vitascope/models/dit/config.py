"""The MM-DiT configuration: one frozen dataclass, validated, with the released presets as constructors."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

CONDITION_TYPES = (None, "token_replace", "latent_concat")


@dataclass(frozen=True)
class DiTConfig:
    in_channels: int = 16
    out_channels: int = 16
    hidden_size: int = 3072
    heads_num: int = 24
    mlp_width_ratio: float = 4.0
    mm_double_blocks_depth: int = 20
    mm_single_blocks_depth: int = 40
    rope_dim_list: tuple[int, int, int] = (16, 56, 56)
    rope_theta: float = 256.0
    patch_size: tuple[int, int, int] = (1, 2, 2)
    qkv_bias: bool = True
    guidance_embed: bool = True
    text_states_dim: int = 4096  # LLM states
    text_states_dim_2: int = 768  # CLIP pooled
    refiner_depth: int = 2
    image_condition_type: str | None = None

    def __post_init__(self):
        if self.hidden_size % self.heads_num:
            raise ValueError(
                f"hidden_size {self.hidden_size} must be divisible by heads_num {self.heads_num}"
            )
        if sum(self.rope_dim_list) != self.head_dim:
            raise ValueError(
                f"rope_dim_list {self.rope_dim_list} must sum to the head dim {self.head_dim} "
                f"(hidden_size / heads_num)"
            )
        if self.image_condition_type not in CONDITION_TYPES:
            raise ValueError(
                f"image_condition_type must be one of {CONDITION_TYPES}, got {self.image_condition_type!r}"
            )
        if self.image_condition_type == "latent_concat" and self.in_channels != 2 * self.out_channels + 1:
            raise ValueError(
                f"latent_concat needs in_channels = 2*out_channels + 1 = {2 * self.out_channels + 1}, "
                f"got {self.in_channels}"
            )
        object.__setattr__(self, "rope_dim_list", tuple(self.rope_dim_list))
        object.__setattr__(self, "patch_size", tuple(self.patch_size))

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.heads_num

    @property
    def mlp_hidden(self) -> int:
        return int(self.hidden_size * self.mlp_width_ratio)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DiTConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown DiT config keys {sorted(unknown)}; known keys are {sorted(names)}")
        return cls(**d)
