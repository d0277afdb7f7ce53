"""Which DiT class a checkpoint needs, decided from the keys (and shapes) it holds.

A variant is a name, a predicate over the checkpoint's `{key: shape}` (and the base config read or inferred
for it), and a builder `build(config, shapes) -> nn.Module` that the loader calls on the meta device. The
most specific variant wins (highest priority first). Register a new one with `register_dit`:

    register_dit("pose", lambda shapes, cfg: any(k.startswith("pose_in.") for k in shapes), build_pose_dit,
                 priority=50)

The Avatar release ships under the T2V file name and adds its own modules, so it is recognised here by those
keys and built as `models.audio.avatar_dit.AvatarDiT` (imported only then), its audio widths read off the
checkpoint. A variant whose builder is missing from an install is still recognised, and loading it says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import nn

from vitascope.errors import WeightLoadError
from vitascope.models.dit.config import DiTConfig

Shapes = Mapping[str, tuple[int, ...]]
Predicate = Callable[[Shapes, DiTConfig | None], bool]
Builder = Callable[[DiTConfig, Shapes], nn.Module]  # called on the meta device

# Key prefixes that only the HunyuanVideo-Avatar DiT has (reference table of its modules).
AVATAR_PREFIXES = (
    "audio_adapter_blocks.",
    "audio_proj.",
    "ref_in.",
    "before_proj.",
    "motion_exp.",
    "motion_pose.",
    "fps_proj.",
    "emotion_in.",  # the paper's emotion module (ours; the release has none)
    "emotion_blocks.",
)


@dataclass(frozen=True)
class DiTVariant:
    name: str
    matches: Predicate
    build: Builder | _Lazy | None  # None: recognised, but its class is not part of this install
    priority: int = 0
    description: str = ""
    own_prefixes: tuple[str, ...] = ()  # keys only this variant has (inspect reports them separately)

    def builder(self) -> Builder | None:
        """The builder, or None when the variant's class is not part of this install."""
        if isinstance(self.build, _Lazy):
            return self.build.resolve()
        return self.build


_REGISTRY: dict[str, DiTVariant] = {}


def register_dit(
    name: str,
    matches: Predicate,
    build: Builder | _Lazy | None,
    *,
    priority: int = 0,
    description: str = "",
    own_prefixes: tuple[str, ...] = (),
) -> DiTVariant:
    """Add (or replace, by name) a DiT variant."""
    variant = DiTVariant(name, matches, build, priority, description, own_prefixes)
    _REGISTRY[name] = variant
    return variant


def variants() -> list[DiTVariant]:
    return sorted(_REGISTRY.values(), key=lambda v: -v.priority)


def detect_variant(shapes: Shapes, config: DiTConfig | None = None) -> DiTVariant:
    for variant in variants():
        if variant.matches(shapes, config):
            return variant
    raise WeightLoadError("no DiT variant matches these weights (is this a HunyuanVideo transformer?)")


def build_dit(variant: DiTVariant, config: DiTConfig, shapes: Shapes) -> nn.Module:
    build = variant.builder()
    if build is None:
        raise WeightLoadError(
            f"these weights are a {variant.name} DiT ({variant.description}), which this version of vitascope "
            "recognises but cannot run yet; `vitascope inspect` still checks the file"
        )
    return build(config, shapes)


@dataclass(frozen=True)
class _Lazy:
    """A builder in a module that is imported only when a checkpoint of its variant is loaded."""

    module: str
    name: str

    def resolve(self) -> Builder | None:
        import importlib

        try:
            return getattr(importlib.import_module(self.module), self.name)
        except ModuleNotFoundError as e:  # the module is not there; an import error inside it still raises
            if e.name is not None and self.module.startswith(e.name):
                return None
            raise
        except AttributeError:
            return None


def _base(config: DiTConfig, shapes: Shapes) -> nn.Module:
    from vitascope.models.dit.model import HunyuanVideoDiT

    return HunyuanVideoDiT(config)


def _has_any(shapes: Shapes, prefixes: tuple[str, ...]) -> bool:
    return any(k.startswith(prefixes) for k in shapes)


register_dit(
    "t2v",
    lambda shapes, cfg: True,
    _base,
    priority=-100,
    description="text-to-video (HunyuanVideo T2V)",
)
register_dit(
    "i2v-token-replace",
    lambda shapes, cfg: cfg is not None and cfg.image_condition_type == "token_replace",
    _base,
    description="image-to-video, first latent frame replaced by the image (HunyuanVideo-I2V)",
)
register_dit(
    "i2v-latent-concat",
    lambda shapes, cfg: (
        (cfg is not None and cfg.image_condition_type == "latent_concat") or _latent_concat_shape(shapes)
    ),
    _base,
    description="image-to-video, image latents concatenated as channels (33 input channels)",
)
register_dit(
    "avatar",
    lambda shapes, cfg: _has_any(shapes, AVATAR_PREFIXES),
    _Lazy("vitascope.models.dit.variants", "_avatar"),
    priority=100,
    description="audio-driven avatar (HunyuanVideo-Avatar)",
    own_prefixes=AVATAR_PREFIXES,
)

register_dit(
    "pose",
    lambda shapes, cfg: _has_any(shapes, ("pose_in.", "pose_proj.")),
    _Lazy("vitascope.models.pose.pose_dit", "build_pose_dit"),
    priority=50,
    description="pose-conditioned (skeleton-video latents added to the video tokens)",
    own_prefixes=("pose_in.", "pose_proj."),
)


def _avatar(config: DiTConfig, shapes: Shapes) -> nn.Module:
    """The release's AvatarDiT, with the audio widths of this checkpoint (release: 1024 hidden, 384 x 5 Whisper
    states over a 10-frame window, one 1024-wide adapter head), and the emotion module when it has its keys."""
    from vitascope.models.audio.avatar_dit import AUDIO_LAYERS, AUDIO_WINDOW, AvatarDiT

    need = ("audio_proj.proj1.weight", "audio_adapter_blocks.0.to_q.weight")
    if any(k not in shapes for k in need):
        raise WeightLoadError(f"an Avatar checkpoint needs {' and '.join(need)}; this one lacks them")
    hidden, in_dim = shapes[need[0]]
    # audio_proj sees 10 x layers x width features flattened: any Whisper whose states do not split into the
    # release's 5 layers (e.g. the demo's 3 x 32) is built as 1 "layer" of in_dim / 10 (the same Linear)
    layers = AUDIO_LAYERS if in_dim % (AUDIO_WINDOW * AUDIO_LAYERS) == 0 else 1
    return AvatarDiT(
        config,
        audio_channels=in_dim // (AUDIO_WINDOW * layers),
        audio_layers=layers,
        adapter_dim_head=shapes[need[1]][0],
        audio_hidden=hidden,
        emotion="emotion_in.proj.weight" in shapes,
    )


def _latent_concat_shape(shapes: Shapes) -> bool:
    w, out = shapes.get("img_in.proj.weight"), shapes.get("final_layer.linear.weight")
    if w is None or out is None or len(w) != 5:
        return False
    out_ch = out[0] // (w[2] * w[3] * w[4])
    return w[1] == 2 * out_ch + 1
