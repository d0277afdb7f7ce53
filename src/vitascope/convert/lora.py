"""LoRA weights: read every HunyuanVideo LoRA key format into one form, and apply it to a DiT.

The one form is `{Tencent module path: LoraPair}` (our DiT uses Tencent's module names). Formats read
(any mix of them in one file; see `convert/lora_formats.py` for the writers and docs/lora.md):

- `diffusion_model.<path>.lora_A/B.weight` (ComfyUI, diffusion-pipe; also `transformer.` and PEFT's
  `base_model.model.` prefixes, and PEFT's `.default` adapter infix),
- Kohya style `<prefix>_<path with underscores>.lora_down/lora_up.weight` + `.alpha`: musubi-tuner's
  `lora_unet_*` and the official I2V script's `Hunyuan_video_I2V_lora_*`. Underscores inside module names
  (`img_attn_qkv`) make the path ambiguous, so names are resolved against the DiT's own Linear layers,
- diffusers / finetrainers names (`transformer.transformer_blocks.0.attn.to_q...`): renamed, and separate
  q/k/v(/mlp) LoRAs fused into Tencent's fused linear: A = concat(A_q, A_k, A_v) [3r, in] and
  B = block_diag(B_q, B_k, B_v) [3 out, 3r], so B @ A = concat of the per-part deltas.

Unknown keys raise one WeightLoadError naming them all (never a silent skip).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vitascope.errors import WeightLoadError

log = logging.getLogger(__name__)

KOHYA_PREFIX = "Hunyuan_video_I2V_lora_"
MUSUBI_PREFIX = "lora_unet_"
DOTTED_PREFIXES = ("base_model.model.", "diffusion_model.", "transformer.", "")
_PAIR_KEY = re.compile(r"^(.*)\.(lora_down|lora_up|lora_A|lora_B)(?:\.default)?\.weight$")
_ALPHA_KEY = re.compile(r"^(.*)\.alpha$")
_KIND = {"lora_A": "down", "lora_B": "up", "lora_down": "down", "lora_up": "up"}


@dataclass(frozen=True)
class LoraPair:
    down: torch.Tensor  # A [r, in]
    up: torch.Tensor  # B [out, r]
    alpha: float | None = None

    @property
    def rank(self) -> int:
        return self.down.shape[0]

    @property
    def scale(self) -> float:
        # alpha/rank is the common convention; None means the scale is already folded in (alpha == rank)
        return 1.0 if self.alpha is None else self.alpha / self.rank

    def delta(self) -> torch.Tensor:
        """The weight change B @ A * scale, float32 [out, in]."""
        return (self.up.float() @ self.down.float()) * self.scale

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(A, B) with the scale folded in as sqrt(scale) on each, so that B @ A == delta()."""
        s = self.scale**0.5
        return (self.down.float() * s).contiguous(), (self.up.float() * s).contiguous()


@dataclass(frozen=True)
class LinearIndex:
    """The Linear layers of a DiT: dotted path -> (out, in), and the underscored spelling of each path."""

    shapes: dict[str, tuple[int, int]]

    @functools.cached_property
    def underscored(self) -> dict[str, str]:
        return {n.replace(".", "_"): n for n in self.shapes}

    @classmethod
    def of(cls, model: nn.Module) -> LinearIndex:
        return cls({n: tuple(m.weight.shape) for n, m in model.named_modules() if isinstance(m, nn.Linear)})


@functools.cache
def generic_index() -> LinearIndex:
    """Linear layers of the full-size HunyuanVideo DiT (T2V + I2V names), built on the meta device.

    Used when no model is at hand (`convert-lora` without --model): names resolve, and shapes give the
    split ratios, which are width-independent."""
    from vitascope.models.dit import DiTConfig, HunyuanVideoDiT

    with torch.device("meta"):
        model = HunyuanVideoDiT(DiTConfig(image_condition_type="token_replace"))
    return LinearIndex.of(model)


def _match_kohya(base: str, index: LinearIndex) -> str | None:
    """The longest model path whose underscored form ends `base` (any prefix before it is allowed)."""
    names = index.underscored
    hits = [u for u in names if base == u or base.endswith("_" + u)]
    return names[max(hits, key=len)] if hits else None


def _resolve(base: str, index: LinearIndex) -> tuple[str, int | None, str | None] | None:
    """(Tencent target, fused part index or None, diffusers fuse kind or None) for one key's module part."""
    if "." not in base:  # Kohya / musubi / official I2V spelling
        target = _match_kohya(base, index)
        return (target, None, None) if target else None
    for prefix in DOTTED_PREFIXES:
        if base.startswith(prefix) and base[len(prefix) :] in index.shapes:
            return base[len(prefix) :], None, None
    from vitascope.convert.lora_formats import diffusers_module_to_tencent

    for prefix in DOTTED_PREFIXES:
        if base.startswith(prefix) and (hit := diffusers_module_to_tencent(base[len(prefix) :])):
            if hit[0] in index.shapes:
                return hit
    return None


def parse_lora(
    state: dict[str, torch.Tensor], model: nn.Module | LinearIndex | None = None
) -> dict[str, LoraPair]:
    """Group a LoRA state dict of any supported format by target module (dotted Tencent path).

    `model`: the DiT (or its LinearIndex) the LoRA is for; None resolves against the full-size layout."""
    index = model if isinstance(model, LinearIndex) else LinearIndex.of(model) if model else generic_index()
    parts: dict[tuple[str, int | None], dict] = {}
    kinds: dict[str, str | None] = {}
    unknown, not_lora = [], []
    for key, value in state.items():
        if m := _PAIR_KEY.match(key):
            base, kind = m.group(1), _KIND[m.group(2)]
        elif m := _ALPHA_KEY.match(key):
            base, kind = m.group(1), "alpha"
        else:
            not_lora.append(key)
            continue
        hit = _resolve(base, index)
        if hit is None:
            unknown.append(key)
            continue
        target, part, fuse = hit
        parts.setdefault((target, part), {})[kind] = value
        kinds[target] = fuse
    if not_lora:
        raise WeightLoadError(
            f"{len(not_lora)} key(s) are not LoRA keys (expected lora_A/lora_B, lora_down/lora_up or alpha): "
            + ", ".join(not_lora[:8])
        )
    if unknown:
        raise WeightLoadError(
            f"{len(unknown)} LoRA key(s) target no Linear layer of this model: " + ", ".join(unknown[:8])
        )
    pairs: dict[tuple[str, int | None], LoraPair] = {}
    for (target, part), p in parts.items():
        if "down" not in p or "up" not in p:
            missing = "down (A)" if "down" not in p else "up (B)"
            raise WeightLoadError(f"LoRA for {target} lacks its {missing} matrix")
        pairs[(target, part)] = LoraPair(p["down"], p["up"], float(p["alpha"]) if "alpha" in p else None)
    out: dict[str, LoraPair] = {}
    for target in dict.fromkeys(t for t, _ in pairs):
        if kinds[target] is None:
            out[target] = pairs[(target, None)]
        else:
            from vitascope.convert.lora_formats import fuse_parts

            own = {i: p for (t, i), p in pairs.items() if t == target}
            out[target] = fuse_parts(own, kinds[target], index.shapes[target])
    _check_shapes(out, index)
    return out


def _check_shapes(lora: dict[str, LoraPair], index: LinearIndex) -> None:
    for target, pair in lora.items():
        out_f, in_f = index.shapes[target]
        if pair.up.shape[1] != pair.rank:
            raise WeightLoadError(f"LoRA for {target}: A has rank {pair.rank}, B {tuple(pair.up.shape)}")
        if index is not generic_index() and (pair.up.shape[0], pair.down.shape[1]) != (out_f, in_f):
            raise WeightLoadError(
                f"LoRA for {target} has shape {(pair.up.shape[0], pair.down.shape[1])}, the layer {(out_f, in_f)}"
            )


def read_lora(path: str | Path, model: nn.Module | LinearIndex | None = None) -> dict[str, LoraPair]:
    from vitascope.io.weights import read_state_dict

    return parse_lora(read_state_dict(path), model)


def load_lora(path: str | Path, model: nn.Module, strength: float = 1.0) -> int:
    """Merge one LoRA file into `model` (through PEFT); returns the number of layers changed."""
    from vitascope.convert.lora_peft import apply_loras

    lora = read_lora(path, model)
    apply_loras(model, [(lora, strength)], merge=True)
    return len(lora)


def parse_lora_spec(spec: str, default_weight: float = 1.0) -> tuple[str, float]:
    """`file.safetensors:0.8` -> (file, 0.8); a plain path keeps `default_weight`."""
    head, sep, tail = str(spec).rpartition(":")
    if sep and head:
        try:
            return head, float(tail)
        except ValueError:
            pass
    return str(spec), default_weight
