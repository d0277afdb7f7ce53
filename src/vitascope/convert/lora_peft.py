"""Several LoRAs on one DiT through PEFT: adapters with weights at run time, or merged into the weights.

Each LoRA becomes a PEFT adapter `lora0`, `lora1`, ... injected into the model's own Linear layers (no
wrapper model). The per-layer alpha/rank of each file is folded into B, so every layer's PEFT scaling is
exactly the user weight; `set_lora_weights` changes the weights later without reloading. `merge=True` asks
PEFT to add W += w * B @ A for every adapter and then unwraps the layers, leaving a plain DiT.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import torch
from torch import nn

from vitascope.convert.lora import LoraPair
from vitascope.errors import InvalidOptionError

log = logging.getLogger(__name__)


def _lora_layers(model: nn.Module):
    from peft.tuners.lora import LoraLayer

    return [(n, m) for n, m in model.named_modules() if isinstance(m, LoraLayer)]


def adapter_names(model: nn.Module) -> list[str]:
    names: set[str] = set()
    for _, m in _lora_layers(model):
        names.update(m.lora_A.keys())
    return sorted(names)


@torch.no_grad()
def _inject(model: nn.Module, lora: dict[str, LoraPair], name: str) -> None:
    from peft import LoraConfig, inject_adapter_in_model

    ranks = {t: p.rank for t, p in lora.items()}
    r0 = next(iter(ranks.values()))
    pattern = {re.escape(t): r for t, r in ranks.items() if r != r0}
    config = LoraConfig(
        r=r0,
        lora_alpha=r0,
        rank_pattern=pattern,
        alpha_pattern=pattern,  # alpha == rank everywhere: scaling == the adapter weight
        target_modules=sorted(lora),
        lora_dropout=0.0,
        init_lora_weights=False,
    )
    with warnings.catch_warnings():  # PEFT warns that a second adapter is added: that is the point
        warnings.simplefilter("ignore", UserWarning)
        inject_adapter_in_model(config, model, adapter_name=name)
    for target, pair in lora.items():
        layer = model.get_submodule(target)
        a, b = layer.lora_A[name].weight, layer.lora_B[name].weight
        if a.shape != pair.down.shape or b.shape != pair.up.shape:
            raise RuntimeError(f"PEFT built {target} with rank {a.shape[0]}, the LoRA has {pair.rank}")
        a.copy_(pair.down.float().to(a.device, a.dtype))
        b.copy_((pair.up.float() * pair.scale).to(b.device, b.dtype))


def set_lora_weights(model: nn.Module, weights: dict[str, float]) -> None:
    """Activate exactly the adapters in `weights`, each at its weight (PEFT scaling = weight)."""
    active = list(weights)
    for _, m in _lora_layers(model):
        m.set_adapter([a for a in active if a in m.lora_A])
        for adapter, w in weights.items():
            m.set_scale(adapter, w)


def _current_weights(model: nn.Module) -> dict[str, float]:
    """adapter -> weight of the adapters active now (scaling == weight, as alpha == rank)."""
    out: dict[str, float] = {}
    for _, m in _lora_layers(model):
        for a in m.active_adapters:
            if a in m.scaling:
                out[a] = m.scaling[a]
    return out


def _unwrap(model: nn.Module) -> None:
    """Replace every PEFT layer by its (merged) base layer."""
    for name, m in _lora_layers(model):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, m.get_base_layer())


def remove_adapters(model: nn.Module, names: list[str], keep: list[str] = ()) -> None:
    """Delete run-time adapters `names` (unmerged) from every layer; the adapters in `keep` stay active at
    their weights. With none kept, every PEFT layer is replaced by its plain base layer again."""
    weights = {a: w for a, w in _current_weights(model).items() if a in keep}
    for _, m in _lora_layers(model):
        for name in names:
            if name in m.lora_A:
                m.delete_adapter(name)
    if keep:
        set_lora_weights(model, weights)
    else:
        _unwrap(model)


@torch.no_grad()
def apply_loras(
    model: nn.Module, loras: list[tuple[dict[str, LoraPair], float]], *, merge: bool = True
) -> list[str]:
    """Add each (lora, weight) as a PEFT adapter; merge them into the weights when `merge`.

    Returns the adapter names (empty after a merge). The model keeps its dtype and device."""
    if not loras:
        return []
    start = len(adapter_names(model))
    if merge and start:
        raise InvalidOptionError(
            "this model already has LoRA adapters applied at run time; merge none or all"
        )
    names = [f"lora{start + i}" for i in range(len(loras))]
    for name, (lora, _) in zip(names, loras, strict=True):
        _inject(model, lora, name)
    set_lora_weights(
        model, {**_current_weights(model), **dict(zip(names, (w for _, w in loras), strict=True))}
    )
    if merge:
        for _, m in _lora_layers(model):
            present = [a for a in names if a in m.lora_A]
            if present:
                m.merge(adapter_names=present)
        _unwrap(model)
        log.info("merged %d LoRA(s) into the DiT (weights %s)", len(loras), [w for _, w in loras])
        return []
    log.info("applied %d LoRA(s) as PEFT adapters %s", len(loras), names)
    return names


def load_loras(
    model: nn.Module, loras: list[tuple[str | Path, float] | str], *, mode: str = "merge"
) -> list[dict]:
    """Read LoRA files ((path, weight) or "path:weight") for `model` and apply them; returns a record of
    each (path, weight, mode, layers) for the output sidecar."""
    from vitascope.convert.lora import parse_lora_spec, read_lora

    if mode not in ("merge", "runtime"):
        raise InvalidOptionError(f"LoRA mode must be 'merge' or 'runtime', got {mode!r}")
    specs = [parse_lora_spec(x) if isinstance(x, str) else (str(x[0]), float(x[1])) for x in loras]
    parsed = [(read_lora(path, model), w) for path, w in specs]
    apply_loras(model, parsed, merge=mode == "merge")
    return [
        {"path": path, "weight": w, "mode": mode, "layers": len(lora)}
        for (path, w), (lora, _) in zip(specs, parsed, strict=True)
    ]


# -- training side: trainable adapters and reading them back ---------------------------------------------

# Target presets, as PEFT `target_modules` (a regex over the full module path, or a list of name suffixes).
TARGET_PRESETS: dict[str, str | list[str]] = {
    # every Linear of the double/single blocks except the modulation ones (musubi-tuner's choice; our default)
    "blocks": r"(double_blocks\.\d+\.(img|txt)_(attn_qkv|attn_proj|mlp\.fc1|mlp\.fc2)|single_blocks\.\d+\.linear[12])",
    # "blocks" without the single blocks' linear1: diffusers' HunyuanVideo loader splits a linear1 LoRA at
    # the released width (3072) only, so this is what loads there unrenamed at any width (the demo model's)
    "portable": r"(double_blocks\.\d+\.(img|txt)_(attn_qkv|attn_proj|mlp\.fc1|mlp\.fc2)|single_blocks\.\d+\.linear2)",
    # the official I2V LoRA script's list (spec 3.4): modulation linears too, matched by name suffix
    "i2v": ["linear", "fc1", "fc2", "img_attn_qkv", "img_attn_proj", "txt_attn_qkv", "txt_attn_proj", "linear1", "linear2"],
}  # fmt: skip


def add_trainable_lora(
    model: nn.Module,
    rank: int = 32,
    alpha: float | None = None,
    targets: str | list[str] = "blocks",
    adapter: str = "default",
) -> int:
    """Inject one trainable PEFT LoRA (B zero-initialised, so the model is unchanged at step 0) and freeze
    everything else. `targets`: a preset name (TARGET_PRESETS), a regex, or a list of module-name suffixes.
    Returns the number of trainable parameters."""
    from peft import LoraConfig, inject_adapter_in_model

    if rank < 1:
        raise InvalidOptionError(f"LoRA rank must be >= 1, got {rank}")
    target = TARGET_PRESETS.get(targets, targets) if isinstance(targets, str) else list(targets)
    config = LoraConfig(
        r=rank,
        lora_alpha=float(alpha if alpha is not None else rank),
        target_modules=target,
        lora_dropout=0.0,
    )
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        inject_adapter_in_model(config, model, adapter_name=adapter)
    except ValueError as e:  # PEFT: no module matched
        raise InvalidOptionError(f"LoRA targets {targets!r} match no layer of this model: {e}") from e
    n = 0
    for name, p in model.named_parameters():
        p.requires_grad_(".lora_" in name and f".{adapter}." in name)
        n += p.numel() if p.requires_grad else 0
    return n


def extract_lora(model: nn.Module, adapter: str = "default") -> dict[str, LoraPair]:
    """The adapter's weights as {Tencent path: LoraPair} (alpha kept), ready for `save_lora`."""
    out = {}
    for name, m in _lora_layers(model):
        if adapter in m.lora_A:
            out[name] = LoraPair(
                m.lora_A[adapter].weight.detach().float().cpu().clone(),
                m.lora_B[adapter].weight.detach().float().cpu().clone(),
                float(m.lora_alpha[adapter]),
            )
    return out
