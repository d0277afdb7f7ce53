"""LoRA weights: read the Tencent/Kohya and PEFT key formats, merge into a DiT, write Kohya.

Kohya (what HunyuanVideo-I2V ships): `<prefix>_<module path, dots as underscores>.lora_down.weight`,
`.lora_up.weight`, `.alpha`. Underscores inside module names (`img_attn_qkv`) make the path ambiguous, so
names are resolved against the model's own Linear layers rather than by string surgery.
PEFT: `<prefix>.<module path>.lora_A.weight` / `.lora_B.weight` (Tencent module names, as PEFT wraps our DiT).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vitascope.errors import WeightLoadError

log = logging.getLogger(__name__)

KOHYA_PREFIX = "Hunyuan_video_I2V_lora_"


@dataclass(frozen=True)
class LoraPair:
    down: torch.Tensor  # [r, in]
    up: torch.Tensor  # [out, r]
    alpha: float | None = None

    @property
    def scale(self) -> float:
        # alpha/rank is the common convention; Tencent's merger ignores alpha, which is the same when alpha == rank
        return 1.0 if self.alpha is None else self.alpha / self.down.shape[0]


def _linear_names(model: nn.Module) -> dict[str, str]:
    """underscored path -> dotted path, for every Linear in the model."""
    return {n.replace(".", "_"): n for n, m in model.named_modules() if isinstance(m, nn.Linear)}


def _match_kohya(base: str, names: dict[str, str]) -> str | None:
    """The longest model path whose underscored form ends `base` (any prefix before it is allowed)."""
    hits = [u for u in names if base == u or base.endswith("_" + u)]
    return names[max(hits, key=len)] if hits else None


def parse_lora(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, LoraPair]:
    """Group a LoRA state dict by target module (dotted Tencent path); unknown targets raise, naming them."""
    names = _linear_names(model)
    dotted = set(names.values())
    parts: dict[str, dict] = {}
    for key, value in state.items():
        if m := re.match(r"^(.*)\.(lora_down|lora_up)\.weight$", key) or re.match(r"^(.*)\.(alpha)$", key):
            base, kind = m.group(1), m.group(2)
            target = _match_kohya(base, names)
        elif m := re.match(r"^(.*)\.(lora_A|lora_B)(?:\.default)?\.weight$", key):
            base, kind = m.group(1), {"lora_A": "lora_down", "lora_B": "lora_up"}[m.group(2)]
            target = next(
                (
                    base[len(p) :]
                    for p in ("", "base_model.model.", "transformer.", "diffusion_model.")
                    if base.startswith(p) and base[len(p) :] in dotted
                ),
                None,
            )
        else:
            raise WeightLoadError(
                f"{key!r} is not a LoRA key (expected lora_down/lora_up/alpha or lora_A/lora_B)"
            )
        if target is None:
            raise WeightLoadError(f"LoRA key {key!r} targets no Linear layer of this model")
        parts.setdefault(target, {})[kind] = value
    out = {}
    for target, p in parts.items():
        if "lora_down" not in p or "lora_up" not in p:
            raise WeightLoadError(
                f"LoRA for {target} lacks its {'down' if 'lora_down' not in p else 'up'} matrix"
            )
        alpha = float(p["alpha"]) if "alpha" in p else None
        out[target] = LoraPair(p["lora_down"], p["lora_up"], alpha)
    return out


@torch.no_grad()
def merge_lora(model: nn.Module, lora: dict[str, LoraPair], strength: float = 1.0) -> int:
    """W += strength * scale * up @ down, in float32, for every target; returns the number of layers changed."""
    modules = dict(model.named_modules())
    for target, pair in lora.items():
        w = modules[target].weight
        w.copy_(_merged(w, pair, strength, target))
    log.info("merged LoRA into %d layers (strength %.3g)", len(lora), strength)
    return len(lora)


def _merged(w: torch.Tensor, pair: LoraPair, strength: float, target: str) -> torch.Tensor:
    """W + strength * scale * up @ down, computed in float32, returned in W's dtype."""
    delta = (pair.up.float() @ pair.down.float()) * (pair.scale * strength)  # [out, in]
    if delta.shape != w.shape:
        raise WeightLoadError(f"LoRA for {target} has shape {tuple(delta.shape)}, the layer {tuple(w.shape)}")
    return (w.float() + delta.to(w.device)).to(w.dtype)


def load_lora(path: str | Path, model: nn.Module, strength: float = 1.0) -> int:
    from vitascope.io.weights import read_state_dict

    return merge_lora(model, parse_lora(read_state_dict(path), model), strength)


def merge_on_load(path: str | Path, strength: float = 1.0):
    """A loader transform (`transform(model) -> model`): the LoRA is merged into the weights as they are
    assigned, so it works on a model still on the meta device and costs no second pass over 13B weights."""
    from vitascope.io.weights import read_state_dict

    def transform(model: nn.Module) -> nn.Module:
        lora = parse_lora(read_state_dict(path), model)  # names resolve on the meta model

        def merge(module, state, prefix, *_):
            for target, pair in lora.items():
                key = f"{prefix}{target}.weight"
                if key in state:  # a missing key is reported by the strict check
                    state[key] = _merged(state[key], pair, strength, target)
            handle.remove()  # once: a later load_state_dict is not merged again
            log.info("merged LoRA %s into %d layers (strength %.3g)", Path(path).name, len(lora), strength)

        handle = model.register_load_state_dict_pre_hook(merge)
        return model

    return transform


def to_kohya(lora: dict[str, LoraPair], prefix: str = KOHYA_PREFIX) -> dict[str, torch.Tensor]:
    """Kohya/Tencent key format, loadable by the official I2V LoRA loader."""
    out = {}
    for target, pair in lora.items():
        base = prefix + target.replace(".", "_")
        out[f"{base}.lora_down.weight"] = pair.down.contiguous()
        out[f"{base}.lora_up.weight"] = pair.up.contiguous()
        out[f"{base}.alpha"] = torch.tensor(
            float(pair.alpha if pair.alpha is not None else pair.down.shape[0])
        )
    return out
