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
    world: str = "shapes"  # "shapes" (synthetic/) or "faces" (the talking-head world, fg_weight on mouths)
    # Share of clips recoloured by a random hue rotation (synthetic/recolour.py): the whole colour circle
    # from the world's palette, so the VAE carries colours its DiT never saw (what a LoRA teaches).
    hue_fraction: float = 0.0
    # Weight of a pull of the encoder's posterior mean towards the init_from VAE's on clips that are not
    # recoloured: the latents a DiT was trained on stay (nearly) where they were while new hues get room.
    anchor_weight: float = 0.0
    # Share of clips that are colour charts (synthetic/colour_chart.py): every pixel some colour of the RGB
    # cube, a dense signal where recoloured world clips show their hue on a few percent of the frame. Drawn
    # before hue_fraction (which applies to the rest); charts are never anchored.
    chart_fraction: float = 0.0

    def __post_init__(self):
        for name in ("mse_weight", "l1_weight", "fg_weight"):
            if getattr(self, name) < 0:
                raise InvalidOptionError(f"vae_options.{name} must be >= 0, got {getattr(self, name)}")
        if self.mse_weight == 0 and self.l1_weight == 0:
            raise InvalidOptionError(
                "vae_options: mse_weight and l1_weight are both 0 (no reconstruction loss)"
            )
        for name in ("hue_fraction", "chart_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InvalidOptionError(f"vae_options.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.anchor_weight < 0:
            raise InvalidOptionError(f"vae_options.anchor_weight must be >= 0, got {self.anchor_weight}")
        if self.anchor_weight > 0 and (self.init_from is None or self.freeze_encoder):
            raise InvalidOptionError(
                "vae_options.anchor_weight needs init_from (the VAE to stay close to) and a trainable encoder"
            )
        if not 0.0 <= self.figure_fraction <= 1.0:
            raise InvalidOptionError(
                f"vae_options.figure_fraction must be in [0, 1], got {self.figure_fraction}"
            )
        if self.world not in ("shapes", "faces"):
            raise InvalidOptionError(f"vae_options.world must be 'shapes' or 'faces', got {self.world!r}")
        if self.chart_fraction > 0 and self.world != "shapes":
            raise InvalidOptionError("vae_options.chart_fraction is for the shapes world; set it to 0")
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
class AvatarTrainOptions:
    """The avatar task's data, sizes and objective (train/avatar_task.py)."""

    window: int = 5  # latent frames per DiT window (the release: 33); the model folder records it
    clip_frames: int = 33  # video frames per pool clip (windows start anywhere in it)
    pool_size: int = 200  # distinct clips encoded
    data: str = "single"  # "single": one face; "duo": two faces, one silent; "mixed": duo in wide buckets
    emotion: bool = False  # the emotion module (a reference of the same expression from another clip)
    # emotion pools: share of clips whose photo shows the face with another expression than the clip's, so
    # that the expression must come from the emotion reference (`--emotion happy` on a neutral photo)
    emotion_swap: float = 0.5
    # seconds of recording a clip's audio is placed in (Whisper's 30 s chunk): its windows are cut from there,
    # so the model hears the clip at every position of a chunk (avatar_encoders.clip_audio_windows); 0: at 0
    audio_context: float = 30.0
    whisper_width: int = 32  # our random Whisper's d_model
    whisper_layers: int = 2
    audio_hidden: int = 128  # audio_proj width
    adapter_dim_head: int = 64
    text_len: int = 56  # LLaVA max_length (the release: 256): room for the negative prompt
    prompt: str = "a cartoon face talking"
    drop_audio: float = 0.1  # zero audio, positive prompt (the "no_audio" branch)
    drop_both: float = 0.1  # zero audio and the negative prompt (the "negative" branch)
    mouth_weight: float = 4.0  # extra loss weight on the mouths
    # weight of the mouth-motion term: the clean-latent error on the mouths minus its mean over the window's
    # frames (what the reference cannot tell and only the audio can), see avatar_task.micro_loss
    motion_weight: float = 0.0
    # weight of the lip-sync term: the mouth opening read from the clean-latent estimate against the clip's
    # (a linear read-out fitted on the pool, train/avatar_sync.py)
    sync_weight: float = 0.0
    first_frame_ref: float = 0.5  # share of clips whose reference is their first frame (else any frame)
    ref_jitter: float = 0.05  # colour gain / shift of the reference, on half the clips
    init_from: str | None = None  # an earlier avatar run (its export) to start from
    encoders_from: str | None = None  # an earlier avatar run whose Whisper and text encoders to reuse
    defaults: dict = field(default_factory=dict)  # generation defaults written into the folder

    def __post_init__(self):
        if self.window < 2 or 4 * self.window - 3 > self.clip_frames:
            raise InvalidOptionError(
                f"avatar_options: window {self.window} needs 2 <= window and clips of >= {4 * self.window - 3} frames"
            )
        if (self.clip_frames - 1) % 4:
            raise InvalidOptionError(f"avatar_options.clip_frames must be 4k+1, got {self.clip_frames}")
        if self.data not in ("single", "duo", "mixed"):
            raise InvalidOptionError(f"avatar_options.data must be single, duo or mixed, got {self.data!r}")
        if not 0 <= self.audio_context <= 30:
            raise InvalidOptionError("avatar_options.audio_context must be between 0 and 30 seconds")
        if min(self.motion_weight, self.mouth_weight, self.sync_weight) < 0:
            raise InvalidOptionError("avatar_options: mouth_weight, motion_weight and sync_weight must be >= 0")
        for name in ("drop_audio", "drop_both", "first_frame_ref", "ref_jitter", "emotion_swap"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InvalidOptionError(f"avatar_options.{name} must be in [0, 1]")


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
    # Prior preservation (train/lora_preserve.py): clips the base model generates from these prompts (a
    # text file, one per line; default: the base folder's prompts.txt) are trained on beside the data with
    # this weight, so what the base already draws stays as it was. 0 or no prompts: off.
    preserve_prompts: str | None = None
    preserve_weight: float = 0.0
    preserve_count: int = 32  # clips generated once, at the start of the run

    def __post_init__(self):
        if self.preserve_weight < 0:
            raise InvalidOptionError(f"lora_options.preserve_weight must be >= 0, got {self.preserve_weight}")
        if self.preserve_count < 1:
            raise InvalidOptionError(f"lora_options.preserve_count must be >= 1, got {self.preserve_count}")
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
