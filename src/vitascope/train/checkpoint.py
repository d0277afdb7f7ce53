"""Training checkpoints with `torch.distributed.checkpoint` (DCP): sharded, and re-shardable N -> M processes.

    <run>/checkpoints/step_000100/
        .metadata, __<rank>_0.distcp   DCP files: model, optimizer, EMA, extra modules and their optimizers;
                                       each process writes its own shards, a plain tensor is written once
        state.json                     step, recipe name, EMA update count (written last, by rank 0)
    <run>/checkpoints/latest           the name of the newest complete checkpoint

Each checkpoint is written into a temporary folder that rank 0 renames into place once every process has
finished, and `latest` is replaced with os.replace, so a crash at any point leaves the previous checkpoint
readable. Loading reshards to however many processes now run (DCP reads the global shapes from .metadata).
No RNG is saved: every random draw of a step comes from a generator seeded by (recipe seed, step, ...).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from vitascope.errors import ModelFolderError

log = logging.getLogger(__name__)

LATEST = "latest"


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """`write(tmp_path)`, then the rename: `vitascope.io.files.atomic_write`, the one atomic writer."""
    from vitascope.io.files import atomic_write as _atomic

    return _atomic(path, lambda p: write(str(p)))


def atomic_text(path: str | Path, text: str) -> Path:
    from vitascope.io.files import write_text_atomic

    return write_text_atomic(path, text)


def atomic_safetensors(path: str | Path, tensors: dict[str, torch.Tensor]) -> Path:
    from vitascope.io.files import save_safetensors_atomic

    return save_safetensors_atomic(path, {k: v.detach().cpu().contiguous() for k, v in tensors.items()})


def replace_folder(tmp: str | Path, target: str | Path) -> Path:
    """Put the finished folder `tmp` at `target`, replacing an old one whole (readers see old or new)."""
    tmp, target = Path(tmp), Path(target)
    if target.exists():
        old = target.with_name(f".{target.name}.old{os.getpid()}")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)
    return target


def full_model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The whole (gathered) state dict on the CPU. Collective under FSDP: every rank must call it; ranks
    other than 0 get an empty dict."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    # .cpu(): one process on a GPU gets device tensors back (cpu_offload applies to gathered shards only).
    return {
        k: v.detach().cpu().contiguous().clone() for k, v in get_model_state_dict(model, options=opts).items()
    }


def dist_info() -> tuple[int, int]:
    """(rank, world size); (0, 1) without a process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    if dist_info()[1] > 1:
        import torch.distributed as dist

        dist.barrier()


@contextlib.contextmanager
def _quiet_single_process():
    """DCP warns that it assumes one process when no process group exists: that is what we mean."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def _dcp_state(model, optimizer, ema, extra_modules, extra_optimizers) -> dict:
    """The nested state DCP saves and loads in place: sharded tensors stay sharded (DTensors)."""
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_sd, optim_sd = get_state_dict(model, optimizer)
    state = {"model": model_sd, "optim": optim_sd, "ema": ema.state_dict()}
    for name, mod in (extra_modules or {}).items():
        opt = (extra_optimizers or {}).get(name)
        if opt is None:
            state[f"module/{name}"] = get_state_dict(mod, [])[0]
        else:
            state[f"module/{name}"], state[f"optim/{name}"] = get_state_dict(mod, opt)
    return state


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
) -> Path:
    """Write checkpoint `step` atomically. Every rank must call this (each writes its own shards)."""
    import torch.distributed.checkpoint as dcp

    rank, _ = dist_info()
    root = Path(run_dir) / "checkpoints"
    final = root / f"step_{step:06d}"
    tmp = root / f".tmp_step_{step:06d}"
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    with _quiet_single_process():
        dcp.save(_dcp_state(model, optimizer, ema, extra_modules, extra_optimizers), checkpoint_id=str(tmp))
    barrier()  # every shard is on disk before the folder becomes visible
    if rank == 0:
        meta = {**state, "step": step, "ema_updates": ema.updates}
        (tmp / "state.json").write_text(json.dumps(meta, indent=1))  # inside the unpublished folder
        replace_folder(tmp, final)  # re-saving the same step (after a resume) replaces it whole
        atomic_text(root / LATEST, final.name + "\n")
        _prune(root, keep)
        log.info("saved checkpoint %s", final)
    barrier()
    return final


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
    if not (path / ".metadata").exists():
        raise ModelFolderError(
            f"{path} is not a torch.distributed.checkpoint folder (an older checkpoint format?); "
            f"delete {root} to start over"
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
    """Restore model, optimizer, EMA and extra modules from `path` onto this run's sharding; returns
    state.json. Every rank must call this."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_state_dict

    path = Path(path)
    meta = json.loads((path / "state.json").read_text())
    state = _dcp_state(model, optimizer, ema, extra_modules, extra_optimizers)
    with _quiet_single_process():
        dcp.load(state, checkpoint_id=str(path))  # in place, resharded to this run's layout
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    ema.load_state_dict(state["ema"], meta["ema_updates"])
    for name, mod in (extra_modules or {}).items():
        opt = (extra_optimizers or {}).get(name)
        set_state_dict(
            mod,
            [] if opt is None else opt,
            model_state_dict=state[f"module/{name}"],
            optim_state_dict=state.get(f"optim/{name}", {}),
        )
    log.info("resumed from %s (step %d)", path, meta["step"])
    return meta
