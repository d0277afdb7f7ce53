"""Atomic training checkpoints: tensors in safetensors, everything else in JSON.

    <run>/checkpoints/step_000100/
        model.safetensors       trained weights (full, unsharded; Tencent key names for the DiT)
        ema.safetensors         EMA weights
        optimizer.safetensors   AdamW moments and step counts, keyed "<param name>/<slot>"
        extra.safetensors       other modules' weights (the VAE's discriminator) and the torch RNG state
        state.json              step, recipe name, optimizer param groups, EMA update count, python/numpy RNG
    <run>/checkpoints/latest    the name of the newest complete checkpoint

Each checkpoint is written into a temporary folder that is renamed into place, and `latest` is replaced
with os.replace, so a crash at any point leaves the previous checkpoint readable. Loading restores every
RNG and the step (which is also the data position: data and noise are functions of the step).
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vitascope.errors import ModelFolderError

log = logging.getLogger(__name__)

LATEST = "latest"


def full_model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    # .cpu(): one process on a GPU gets device tensors back (cpu_offload applies to gathered shards only).
    return {
        k: v.detach().cpu().contiguous().clone() for k, v in get_model_state_dict(model, options=opts).items()
    }


def _full_optim_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, list]:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    osd = get_optimizer_state_dict(model, optimizer, options=opts)
    tensors = {}
    # With cpu_offload only rank 0 receives the gathered state; the other ranks get an empty dict.
    for name, slots in osd.get("state", {}).items():
        for slot, value in slots.items():
            value = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"{name}/{slot}"] = value.detach().cpu().contiguous().clone()
    groups = [dict(g) for g in osd.get("param_groups", [])]
    return tensors, groups


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    ema,
    state: dict,
    extra_modules: dict[str, nn.Module] | None = None,
    extra_optimizers: dict[str, torch.optim.Optimizer] | None = None,
    keep: int = 2,
    is_writer: bool = True,
) -> Path:
    """Write checkpoint `step` atomically. Every rank must call this (gathering shards is collective);
    only `is_writer` writes."""
    from safetensors.torch import save_file

    model_sd = full_model_state(model)
    opt_t, opt_groups = _full_optim_state(model, optimizer)
    extra_t: dict[str, torch.Tensor] = {"rng/torch": torch.get_rng_state()}
    extra_groups = {}
    for name, mod in (extra_modules or {}).items():
        for k, v in full_model_state(mod).items():
            extra_t[f"module/{name}/{k}"] = v
    for name, opt in (extra_optimizers or {}).items():
        t, g = _full_optim_state(extra_modules[name], opt)
        extra_t.update({f"optim/{name}/{k}": v for k, v in t.items()})
        extra_groups[name] = g
    root = Path(run_dir) / "checkpoints"
    final = root / f"step_{step:06d}"
    if not is_writer:
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp_step_{step:06d}_{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(model_sd, str(tmp / "model.safetensors"))
    save_file({k: v.cpu().contiguous() for k, v in ema.state_dict().items()}, str(tmp / "ema.safetensors"))
    save_file(opt_t, str(tmp / "optimizer.safetensors"))
    save_file(extra_t, str(tmp / "extra.safetensors"))
    meta = {
        **state,
        "step": step,
        "optimizer_param_groups": opt_groups,
        "extra_optimizer_param_groups": extra_groups,
        "ema_updates": ema.updates,
        "rng_python": _py_state_to_json(random.getstate()),
        "rng_numpy": _np_state_to_json(np.random.get_state()),
    }
    (tmp / "state.json").write_text(json.dumps(meta, indent=1))
    if final.exists():  # re-saving the same step (after a resume): replace it whole
        shutil.rmtree(final)
    os.replace(tmp, final)
    _write_latest(root, final.name)
    _prune(root, keep)
    log.info("saved checkpoint %s", final)
    return final


def _write_latest(root: Path, name: str) -> None:
    tmp = root / f".{LATEST}.{os.getpid()}"
    tmp.write_text(name + "\n")
    os.replace(tmp, root / LATEST)


def _prune(root: Path, keep: int) -> None:
    done = sorted(p for p in root.glob("step_*") if p.is_dir())
    for old in done[: max(0, len(done) - keep)]:
        shutil.rmtree(old, ignore_errors=True)


def run_folder(name: str | Path, run_root: str | Path, *below: str) -> Path:
    """A folder given as a path, or as the name of an earlier recipe's run under `run_root` (then `below`
    inside it, e.g. "export", "vae"). Recipes name their inputs (init_from, vae_from, text_from) this way."""
    return Path(name) if Path(name).exists() else Path(run_root, name, *below)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    root = Path(run_dir) / "checkpoints"
    pointer = root / LATEST
    if not pointer.exists():
        return None
    path = root / pointer.read_text().strip()
    if not (path / "state.json").exists():
        raise ModelFolderError(
            f"{pointer} names {path.name}, which is incomplete; delete {pointer} to start over"
        )
    return path


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    ema,
    extra_modules: dict[str, nn.Module] | None = None,
    extra_optimizers: dict[str, torch.optim.Optimizer] | None = None,
) -> dict:
    """Restore model, optimizer, EMA, extra modules and every RNG from `path`; returns state.json."""
    from safetensors.torch import load_file

    path = Path(path)
    meta = json.loads((path / "state.json").read_text())
    _set_model(model, load_file(str(path / "model.safetensors")))
    _set_optim(
        model, optimizer, load_file(str(path / "optimizer.safetensors")), meta["optimizer_param_groups"]
    )
    ema.load_state_dict(load_file(str(path / "ema.safetensors")), meta["ema_updates"])
    extra = load_file(str(path / "extra.safetensors"))
    for name, mod in (extra_modules or {}).items():
        prefix = f"module/{name}/"
        _set_model(mod, {k[len(prefix) :]: v for k, v in extra.items() if k.startswith(prefix)})
    for name, opt in (extra_optimizers or {}).items():
        prefix = f"optim/{name}/"
        sub = {k[len(prefix) :]: v for k, v in extra.items() if k.startswith(prefix)}
        _set_optim(extra_modules[name], opt, sub, meta["extra_optimizer_param_groups"][name])
    torch.set_rng_state(extra["rng/torch"])
    random.setstate(_py_state_from_json(meta["rng_python"]))
    np.random.set_state(_np_state_from_json(meta["rng_numpy"]))
    log.info("resumed from %s (step %d)", path, meta["step"])
    return meta


def _set_model(model: nn.Module, sd: dict[str, torch.Tensor]) -> None:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    set_model_state_dict(model, sd, options=StateDictOptions(full_state_dict=True, strict=True))


def _set_optim(model, optimizer, tensors: dict[str, torch.Tensor], groups: list) -> None:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    state: dict[str, dict] = {}
    for key, value in tensors.items():
        name, slot = key.rsplit("/", 1)
        state.setdefault(name, {})[slot] = value
    osd = {"state": state, "param_groups": groups}
    set_optimizer_state_dict(model, optimizer, osd, options=StateDictOptions(full_state_dict=True))


def _py_state_to_json(s) -> list:
    return [s[0], list(s[1]), s[2]]


def _py_state_from_json(s) -> tuple:
    return (s[0], tuple(s[1]), s[2])


def _np_state_to_json(s) -> list:
    return [s[0], s[1].tolist(), int(s[2]), int(s[3]), float(s[4])]


def _np_state_from_json(s) -> tuple:
    return (s[0], np.array(s[1], dtype=np.uint32), s[2], s[3], s[4])
