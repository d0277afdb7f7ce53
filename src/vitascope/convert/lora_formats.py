"""LoRA file formats: writers, metadata, and the diffusers <-> Tencent module-name bridge.

Formats written (`vitascope convert-lora IN --to FORMAT`):

| name | keys | scale |
|---|---|---|
| `diffusion_model` (default; ComfyUI, diffusion-pipe) | `diffusion_model.<path>.lora_A/B.weight` | folded |
| `peft` | `base_model.model.<path>.lora_A/B.weight` (PEFT's own state dict) | folded |
| `musubi` | `lora_unet_<path_with_underscores>.lora_down/lora_up.weight` + `.alpha` | alpha |
| `i2v` (alias `kohya`) | `Hunyuan_video_I2V_lora_<path_with_underscores>...` + `.alpha` | alpha |
| `diffusers` (finetrainers) | `transformer.<diffusers path>.lora_A/B.weight`, fused layers split | folded |

"Folded" writes alpha/rank as sqrt(alpha/rank) into each of A and B, so a loader that ignores alpha (or
assumes alpha == rank) computes the same delta.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from vitascope.convert.diffusers_dit import FUSED, RENAMES, SWAPPED, _fill, _regex
from vitascope.convert.lora import KOHYA_PREFIX, MUSUBI_PREFIX, LoraPair
from vitascope.errors import InvalidOptionError, WeightLoadError

FORMATS = ("diffusion_model", "peft", "musubi", "i2v", "diffusers")
ALIASES = {"comfyui": "diffusion_model", "diffusion-pipe": "diffusion_model", "kohya": "i2v"}


def format_name(name: str) -> str:
    fmt = ALIASES.get(name, name)
    if fmt not in FORMATS:
        raise InvalidOptionError(
            f"unknown LoRA format {name!r}; choose one of: {', '.join(FORMATS + tuple(ALIASES))}"
        )
    return fmt


# ---- diffusers module names <-> Tencent module names (module level: no .weight/.bias) ----


def diffusers_module_to_tencent(name: str) -> tuple[str, int | None, str | None] | None:
    """(Tencent path, part index in a fused layer, fuse kind) for a diffusers Linear path, or None."""
    probe = name + ".weight"
    for src, dst in RENAMES:
        if m := _regex(dst).match(probe):
            return _fill(src, m.groupdict().get("n")), None, None
    for src, dsts, kind in FUSED:
        for i, d in enumerate(dsts):
            if m := _regex(d).match(probe):
                return _fill(src, m.groupdict().get("n")), i, kind
    for src, dst in SWAPPED:
        if _regex(dst).match(probe):
            return src, None, "swap"
    return None


def tencent_module_to_diffusers(name: str) -> tuple[list[str], str | None]:
    """([diffusers path, ...], fuse kind or None) for a Tencent Linear path; raises if it has none."""
    probe = name + ".weight"
    for src, dst in RENAMES:
        if m := _regex(src).match(probe):
            return [_fill(dst, m.groupdict().get("n"))], None
    for src, dsts, kind in FUSED:
        if m := _regex(src).match(probe):
            return [_fill(d, m.groupdict().get("n")) for d in dsts], kind
    for src, dst in SWAPPED:
        if _regex(src).match(probe):
            return [dst], "swap"
    raise WeightLoadError(f"the layer {name} has no diffusers name; write this LoRA in another format")


def _swap_rows(t: torch.Tensor) -> torch.Tensor:
    a, b = t.chunk(2, dim=0)
    return torch.cat([b, a], dim=0)


def _part_sizes(kind: str, hidden: int, shape: tuple[int, int]) -> list[int]:
    """Output rows of each part of a fused layer of `shape` (out, in) whose input width is `hidden`."""
    if kind == "thirds":
        return [hidden] * 3
    mlp = round(hidden * (shape[0] / shape[1] - 3))  # width-independent: linear1 is [q, k, v, mlp]
    return [hidden] * 3 + [mlp]


def fuse_parts(parts: dict[int | None, LoraPair], kind: str, shape: tuple[int, int]) -> LoraPair:
    """One LoRA for a fused Tencent layer from per-part LoRAs; absent parts get zero rows.

    A = concat(A_i) [sum r_i, in]; B = block_diag(B_i * scale_i) [out, sum r_i]."""
    if kind == "swap":
        pair = parts[None]
        return LoraPair(pair.down, _swap_rows(pair.up), pair.alpha)
    hidden = next(iter(parts.values())).down.shape[1]
    sizes = _part_sizes(kind, hidden, shape)
    order = sorted(parts)
    first = parts[order[0]]
    if len(order) == len(sizes) and all(
        torch.equal(parts[i].down, first.down) and parts[i].scale == first.scale for i in order
    ):  # one shared A (what diffusers' own split writes): B is the row concat, rank stays r
        return LoraPair(first.down, torch.cat([parts[i].up for i in order], dim=0), first.alpha)
    down = torch.cat([parts[i].down.float() for i in order], dim=0)  # [R, in]
    up = torch.zeros(sum(sizes), down.shape[0])  # [out, R]
    col = 0
    for i in order:
        p = parts[i]
        row = sum(sizes[:i])
        if p.up.shape[0] != sizes[i]:
            raise WeightLoadError(
                f"LoRA part {i} of a fused layer has {p.up.shape[0]} rows, expected {sizes[i]}"
            )
        up[row : row + sizes[i], col : col + p.rank] = p.up.float() * p.scale
        col += p.rank
    return LoraPair(down, up, None)


# ---- writers ----


def _dotted(lora: dict[str, LoraPair], prefix: str) -> dict[str, torch.Tensor]:
    out = {}
    for target, pair in lora.items():
        a, b = pair.folded()
        out[f"{prefix}{target}.lora_A.weight"] = a
        out[f"{prefix}{target}.lora_B.weight"] = b
    return out


def _kohya(lora: dict[str, LoraPair], prefix: str) -> dict[str, torch.Tensor]:
    out = {}
    for target, pair in lora.items():
        base = prefix + target.replace(".", "_")
        out[f"{base}.lora_down.weight"] = pair.down.contiguous()
        out[f"{base}.lora_up.weight"] = pair.up.contiguous()
        out[f"{base}.alpha"] = torch.tensor(float(pair.alpha if pair.alpha is not None else pair.rank))
    return out


def _diffusers(lora: dict[str, LoraPair]) -> dict[str, torch.Tensor]:
    out = {}
    for target, pair in lora.items():
        names, kind = tencent_module_to_diffusers(target)
        a, b = pair.folded()
        if kind == "swap":
            b = _swap_rows(b)
        if kind in (None, "swap"):
            parts = [b]
        else:  # the same A for every part, B split by rows: B_i @ A is row block i of B @ A
            parts = b.split(_part_sizes(kind, a.shape[1], (b.shape[0], a.shape[1])), dim=0)
        for name, b_i in zip(names, parts, strict=True):
            out[f"transformer.{name}.lora_A.weight"] = a.clone()  # safetensors refuses shared storage
            out[f"transformer.{name}.lora_B.weight"] = b_i.contiguous()
    return out


def to_format(lora: dict[str, LoraPair], fmt: str) -> dict[str, torch.Tensor]:
    fmt = format_name(fmt)
    if fmt == "diffusion_model":
        return _dotted(lora, "diffusion_model.")
    if fmt == "peft":
        return _dotted(lora, "base_model.model.")
    if fmt == "musubi":
        return _kohya(lora, MUSUBI_PREFIX)
    if fmt == "i2v":
        return _kohya(lora, KOHYA_PREFIX)
    return _diffusers(lora)


def to_kohya(lora: dict[str, LoraPair], prefix: str = KOHYA_PREFIX) -> dict[str, torch.Tensor]:
    """Kohya/Tencent key format, loadable by the official I2V LoRA loader."""
    return _kohya(lora, prefix)


def lora_metadata(lora: dict[str, LoraPair], fmt: str, extra: dict | None = None) -> dict[str, str]:
    """safetensors metadata (string values): format, ranks, targets, plus anything in `extra`."""
    ranks = sorted({p.rank for p in lora.values()})
    meta = {
        "format": "pt",
        "vitascope.lora_format": format_name(fmt),
        "vitascope.rank": str(ranks[0]) if len(ranks) == 1 else json.dumps(ranks),
        "vitascope.alpha": "folded into A and B"
        if format_name(fmt) not in ("musubi", "i2v")
        else "stored per layer",
        "vitascope.targets": json.dumps(sorted(lora)),
        "modelspec.architecture": "hunyuan-video/lora",
    }
    for k, v in (extra or {}).items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    return meta


def save_lora(
    lora: dict[str, LoraPair], path: str | Path, fmt: str = "diffusion_model", metadata: dict | None = None
) -> Path:
    """Write `lora` as safetensors in `fmt`, atomically, with metadata."""
    from vitascope.io.files import save_safetensors_atomic

    path = Path(path)
    save_safetensors_atomic(path, to_format(lora, fmt), metadata=lora_metadata(lora, fmt, metadata))
    return path
