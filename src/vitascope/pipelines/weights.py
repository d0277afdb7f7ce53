"""Reading weight files safely and loading them strictly.

`torch.load` only ever runs with `weights_only=True`: a checkpoint is data, never code. Strict loading names
the missing and unexpected keys and the file, because "size mismatch" alone tells a user nothing.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from vitascope.errors import WeightLoadError

log = logging.getLogger(__name__)


def read_state_dict(path: str | Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file, a sharded safetensors index, or a .pt/.pth/.bin file.

    For .pt files, `key` picks a sub-dict ("module" or "ema" in Tencent's DeepSpeed files); without it the
    first of "module", "ema", "state_dict" present is used.
    """
    path = Path(path)
    if not path.exists():
        raise WeightLoadError(f"weight file {path} does not exist")
    if path.name.endswith(".index.json"):
        index = json.loads(path.read_text())
        out: dict[str, torch.Tensor] = {}
        for shard in sorted(set(index["weight_map"].values())):
            out.update(read_state_dict(path.parent / shard))
        return out
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # pickle with code in it, or a corrupt file: refuse, and say why
        raise WeightLoadError(f"cannot read {path} as a weights-only checkpoint: {e}") from e
    if not isinstance(obj, dict):
        raise WeightLoadError(f"{path} holds a {type(obj).__name__}, not a state dict")
    keys = [key] if key else ["module", "ema", "state_dict"]
    for k in keys:
        if k in obj and isinstance(obj[k], dict):
            return obj[k]
    if key:
        raise WeightLoadError(f"{path} has no {key!r} entry; it has {sorted(obj)[:10]}")
    return obj


def load_strict(
    module: nn.Module, state: dict[str, torch.Tensor], source: str | Path, assign: bool = False
) -> None:
    """load_state_dict(strict=True) with an error that says which keys and which file."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    bad_shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or bad_shapes:
        parts = [f"weights in {source} do not match the model"]
        for name, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", bad_shapes)):
            if items:
                more = f" (+{len(items) - 8} more)" if len(items) > 8 else ""
                parts.append(f"{len(items)} {name} keys: {', '.join(items[:8])}{more}")
        parts.append(
            "check that the folder holds the model the config describes (or convert it with vitascope convert)"
        )
        raise WeightLoadError("; ".join(parts))
    module.load_state_dict(state, strict=True, assign=assign)  # assign=True for modules built on meta


def save_safetensors_atomic(
    state: dict[str, torch.Tensor], path: str | Path, metadata: dict | None = None
) -> Path:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: v.contiguous() for k, v in state.items()}, tmp, metadata=metadata)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_json_atomic(obj, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)
    return path
