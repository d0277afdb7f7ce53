"""The typed option groups of a training recipe (`Recipe.vae_options`, `.dit_options`, `.export_options`,
`.lora_options`).

Each is a frozen dataclass validated in `__post_init__`; `from_mapping` turns a dict into one and names any
unknown key, so a typo is an error instead of a silently ignored knob.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from vitascope.errors import InvalidOptionError


def from_mapping(cls, value, where: str):
    """`value` as a `cls` (a typed options dataclass); a dict is checked key by key, so a typo is an error
    that names it instead of a silently ignored knob."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise InvalidOptionError(f"{where} must be a {cls.__name__} or a dict, got {type(value).__name__}")
    known = [f.name for f in dataclasses.fields(cls)]
    bad = [k for k in value if k not in known]
    if bad:
        raise InvalidOptionError(f"{where}: unknown key {bad[0]!r}; known keys: {', '.join(known)}")
    return cls(**value)


def check_pair(name: str, pair) -> None:
    if pair is not None and not (len(pair) == 2 and 0 < pair[0] <= pair[1]):
        raise InvalidOptionError(f"{name} must be (low, high) with 0 < low <= high, got {pair}")


@dataclass(frozen=True)
class VAEOptions:
    """Knobs of VAE recipes beyond the paper's objective weights (which are Recipe fields)."""

    init_from: str | None = None  # an earlier run's name (its export/vae) or a VAE folder to start from
    freeze_encoder: bool = False  # decoder-only fine-tuning: latents a DiT was trained on stay valid
    sample_posterior: bool = True  # False: decode the posterior mean (see demo_vae)
    mse_weight: float = 0.0
    l1_weight: float = 1.0
    fg_weight: float = 0.0  # extra loss weight on the objects' pixels (1 + fg_weight there)
    scene_frames: int | None = None  # objects move at the speed of a clip this long (the generator's)
    logvar_init: float = -8.0  # initial posterior log-variance of a VAE trained from scratch
    figure_fraction: float = 0.0  # share of clips from the figure world (synthetic/figures/clips.py)

    def __post_init__(self):
        for name in ("mse_weight", "l1_weight", "fg_weight"):
            if getattr(self, name) < 0:
                raise InvalidOptionError(f"vae_options.{name} must be >= 0, got {getattr(self, name)}")
        if self.mse_weight == 0 and self.l1_weight == 0:
            raise InvalidOptionError(
                "vae_options: mse_weight and l1_weight are both 0 (no reconstruction loss)"
            )
        if not 0.0 <= self.figure_fraction <= 1.0:
            raise InvalidOptionError(
                f"vae_options.figure_fraction must be in [0, 1], got {self.figure_fraction}"
            )
        if self.scene_frames is not None and self.scene_frames < 1:
            raise InvalidOptionError(f"vae_options.scene_frames must be >= 1, got {self.scene_frames}")


@dataclass(frozen=True)
class DiTOptions:
    """Knobs of DiT recipes beyond the objective (which are Recipe fields)."""

    init_from: str | None = None  # an earlier run's name (its export/transformer) or a folder to start from
    text_prior_steps: int = 0  # language-prior steps for the tiny text encoders (train/text_prior.py)
    travel_range: tuple[float, float] | None = None  # world objects travel this fraction of the standard
    final_vae: str | None = (
        None  # a VAE run (frozen encoder) fine-tuned after this DiT: the model folder's VAE
    )
    variant: str | None = None  # "pose": a PoseDiT on figure clips (train/pose_task.py)

    def __post_init__(self):
        if self.travel_range is not None:
            object.__setattr__(self, "travel_range", tuple(self.travel_range))
        check_pair("dit_options.travel_range", self.travel_range)
        if self.variant not in (None, "pose"):
            raise InvalidOptionError(f"dit_options.variant must be None or 'pose', got {self.variant!r}")
        if self.text_prior_steps < 0:
            raise InvalidOptionError(
                f"dit_options.text_prior_steps must be >= 0, got {self.text_prior_steps}"
            )


@dataclass(frozen=True)
class ExportOptions:
    """What the model folder of a DiT recipe says about itself (vitascope.json)."""

    model_name: str | None = None  # default: the recipe's name
    recorded_recipe: str | None = None  # the `vitascope train --recipe` name that reproduces the folder
    defaults: dict = field(default_factory=dict)  # the model's generation defaults (ModelDefaults fields)

    def __post_init__(self):
        from vitascope.pipelines.options import ModelDefaults

        known = [f.name for f in dataclasses.fields(ModelDefaults)]
        bad = [k for k in self.defaults if k not in known]
        if bad:
            raise InvalidOptionError(
                f"export_options.defaults: unknown key {bad[0]!r}; known: {', '.join(known)}"
            )


@dataclass(frozen=True)
class LoraOptions:
    """A LoRA fine-tune of a model folder (train/lora_task.py): where the base and the curated shards are, and
    the adapter's rank, alpha and target layers."""

    base: str
    data: str  # curated shards, or a folder of clip.mp4 + clip.txt (train/lora_data.py)
    data_kind: str = "shards"  # "shards" | "clips"
    rank: int = 16
    alpha: float | None = None  # None: alpha = rank
    targets: str = "blocks"
    fps: float = 8.0  # clips: frames are taken at this rate (the base model's)

    def __post_init__(self):
        if self.data_kind not in ("shards", "clips"):
            raise InvalidOptionError(
                f"lora_options.data_kind must be 'shards' or 'clips', got {self.data_kind!r}"
            )
        if self.rank < 1:
            raise InvalidOptionError(f"lora_options.rank must be >= 1, got {self.rank}")
        if self.alpha is not None and self.alpha <= 0:
            raise InvalidOptionError(f"lora_options.alpha must be > 0, got {self.alpha}")

    @property
    def adapter(self) -> dict:
        return {
            "rank": self.rank,
            "alpha": self.alpha if self.alpha is not None else self.rank,
            "targets": self.targets,
        }
