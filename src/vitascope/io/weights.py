"""Reading state dicts safely and checking them strictly: the one reader and the one checker.

- `torch.load` only ever runs with `weights_only=True` (and `mmap=True`): a checkpoint is data, never code.
- Tencent's DeepSpeed files hold several state dicts (`module`, `ema`); which one is read is the caller's
  explicit choice (`key`), defaulting to `module` as the official scripts do.
- float8 weights are never cast without their scales: the release's `*_fp8.pt` is dequantized with its
  `*_fp8_map.pt`, and an fp8 file without one is refused (`io.fp8`).
- A mismatch names the missing, unexpected and mis-shaped keys and the file, because "size mismatch"
  alone tells a user nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vitascope.errors import WeightLoadError

log = logging.getLogger(__name__)

PT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
WEIGHTS_KEYS = ("module", "ema")  # the state dicts a Tencent release file may hold
_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}


def read_state_dict(
    path: str | Path,
    key: str | None = None,
    *,
    meta: bool = False,
    fp8_dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file, a sharded safetensors `.index.json`, or a .pt/.pth/.bin file.

    key:       for .pt files holding several state dicts, "module" (the default) or "ema".
    meta:      shapes and dtypes only (tensors on the meta device; nothing is read into memory).
    fp8_dtype: the dtype float8 weights are dequantized to (the compute dtype, as the release does).
    """
    path = Path(path)
    if key is not None and key not in WEIGHTS_KEYS:
        raise WeightLoadError(f"the weights key must be one of {WEIGHTS_KEYS}, got {key!r}")
    if not path.is_file():
        raise WeightLoadError(f"weight file {path} does not exist")
    if key is not None and path.suffix not in PT_SUFFIXES:
        raise WeightLoadError(
            f"the weights key {key!r} picks a state dict inside a Tencent .pt file; {path.name} holds one set "
            "of weights, so leave the key out"
        )
    if path.name.endswith(".index.json"):
        state = _read_index(path, meta)
    elif path.suffix == ".safetensors":
        state = _read_safetensors(path, meta)
    elif path.suffix in PT_SUFFIXES:
        state = _read_pickle(path, key, meta)
    else:
        raise WeightLoadError(f"{path}: unknown weights format (expected .safetensors, .index.json or .pt)")
    from vitascope.io.fp8 import has_fp8, resolve_fp8

    if has_fp8(state):
        state = resolve_fp8(state, path, dtype=fp8_dtype, meta=meta)
    return state


def _read_index(path: Path, meta: bool) -> dict[str, torch.Tensor]:
    try:
        shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
    except (ValueError, KeyError) as e:
        raise WeightLoadError(f"{path} is not a safetensors index (no weight_map): {e}") from e
    out: dict[str, torch.Tensor] = {}
    for shard in shards:
        out.update(_read_safetensors(path.parent / shard, meta))
    return out


def _read_safetensors(path: Path, meta: bool) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    if not path.is_file():
        raise WeightLoadError(f"weight shard {path} does not exist (a partial download?)")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            if not meta:
                return {k: f.get_tensor(k) for k in f.keys()}
            out = {}
            for k in f.keys():
                sl = f.get_slice(k)
                dtype = _SAFETENSORS_DTYPES.get(sl.get_dtype(), torch.float32)
                out[k] = torch.empty(sl.get_shape(), dtype=dtype, device="meta")
            return out
    except Exception as e:  # a truncated or foreign file
        raise WeightLoadError(f"cannot read {path} as safetensors: {e}") from e


def _read_pickle(path: Path, key: str | None, meta: bool) -> dict[str, torch.Tensor]:
    try:
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:  # files in torch's pre-1.6 format cannot be memory-mapped
            if "mmap" not in str(e):
                raise
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # pickle with code in it, or a corrupt file: refuse, and say why
        raise WeightLoadError(f"cannot read {path} as a weights-only checkpoint: {e}") from e
    state = _unwrap(obj, path, key)
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightLoadError(f"{path}: entries {bad[:5]} are not tensors; this is not a state dict")
    if meta:
        return {k: torch.empty(v.shape, dtype=v.dtype, device="meta") for k, v in state.items()}
    return state


def _unwrap(obj, path: Path, key: str | None) -> dict:
    """The state dict inside a checkpoint: `module`/`ema` (DeepSpeed), `state_dict` (Lightning), or itself."""
    if not isinstance(obj, dict):
        raise WeightLoadError(f"{path} holds a {type(obj).__name__}, not a state dict")
    wrapped = [k for k in (*WEIGHTS_KEYS, "state_dict") if isinstance(obj.get(k), dict)]
    if key is not None:
        if key not in wrapped:
            raise WeightLoadError(
                f"{path} has no {key!r} state dict; it has {sorted(map(str, obj))[:10]}"
                + (f" (use the weights key {wrapped[0]!r})" if wrapped else "")
            )
        return obj[key]
    if "module" in wrapped:
        return obj["module"]
    if "ema" in wrapped:
        raise WeightLoadError(
            f"{path} holds only an 'ema' state dict; choose it explicitly (weights key 'ema')"
        )
    if "state_dict" in wrapped:
        return obj["state_dict"]
    return obj


# ---- checking ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyReport:
    """How a state dict differs from what a model expects (each list sorted)."""

    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    wrong_shape: tuple[tuple[str, tuple, tuple], ...] = ()  # (key, file shape, model shape)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.wrong_shape)

    def groups(self) -> list[tuple[str, list[str]]]:
        shapes = [f"{k}: file {f} vs model {m}" for k, f, m in self.wrong_shape]
        named = [
            ("missing", list(self.missing)),
            ("unexpected", list(self.unexpected)),
            ("wrong shape", shapes),
        ]
        return [(label, items) for label, items in named if items]

    def summary(self, limit: int = 8) -> str:
        parts = []
        for label, items in self.groups():
            more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:limit])}{more}")
        return "; ".join(parts)


def _shape(v) -> tuple:
    return tuple(v.shape) if hasattr(v, "shape") else tuple(v)


def compare_keys(expected: Mapping, state: Mapping) -> KeyReport:
    """`expected` and `state` map names to tensors (any device, meta included) or shapes."""
    common = sorted(set(expected) & set(state))
    return KeyReport(
        missing=tuple(sorted(set(expected) - set(state))),
        unexpected=tuple(sorted(set(state) - set(expected))),
        wrong_shape=tuple(
            (k, _shape(state[k]), _shape(expected[k]))
            for k in common
            if _shape(state[k]) != _shape(expected[k])
        ),
    )


DEFAULT_HINT = "check that the folder holds the model its config describes (`vitascope inspect` shows both)"


def check_state_dict(
    module: nn.Module, state: Mapping, source, *, what: str = "the model", hint: str = DEFAULT_HINT
) -> KeyReport:
    """Raise `WeightLoadError` naming the missing, unexpected and mis-shaped keys and the file."""
    report = compare_keys(module.state_dict(), state)
    if not report.ok:
        raise WeightLoadError(f"weights in {source} do not match {what}: {report.summary()}; {hint}")
    return report


def load_strict(
    module: nn.Module,
    state: Mapping,
    source,
    *,
    assign: bool = False,
    what: str = "the model",
    hint: str = DEFAULT_HINT,
) -> None:
    """`load_state_dict(strict=True)` after `check_state_dict` (assign=True for modules built on meta)."""
    check_state_dict(module, state, source, what=what, hint=hint)
    module.load_state_dict(dict(state), strict=True, assign=assign)
