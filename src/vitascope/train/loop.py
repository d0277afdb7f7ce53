"""The one training loop: any recipe (DiT or VAE), one process or many (torchrun + FSDP2).

Per optimizer step: pick the stage and learning rate; for each of `grad_accum` micro-batches pick a bucket
(seeded by the step, so every rank agrees), compute this rank's share of the loss and backpropagate; clip,
step, update the EMA; log; checkpoint atomically; write preview samples. A run resumes from its newest
checkpoint and continues exactly (data, noise and t are functions of the step; RNG states are restored).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from vitascope.train.buckets import pick_bucket, split_batch
from vitascope.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from vitascope.train.ema import EMA
from vitascope.train.logging import MetricsLog
from vitascope.train.optim import build_optimizer, clip_grad_norm, lr_at, set_lr
from vitascope.train.recipes import Recipe

log = logging.getLogger("vitascope.train")


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    step: int
    losses: list[float]  # global mean loss of each step run in this call
    export_dir: Path | None


def _dist() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _all_mean(value: torch.Tensor) -> float:
    import torch.distributed as dist

    rank, world = _dist()
    if world > 1:
        value = value.detach().clone()
        dist.all_reduce(value)
        value /= world
    return float(value)


def _any_rank(flag: bool) -> bool:
    """True when `flag` is true on any process (every rank must stop at the same step)."""
    import torch.distributed as dist

    if _dist()[1] == 1:
        return flag
    dev = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([1.0 if flag else 0.0], device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def make_task(
    recipe: Recipe,
    run_dir: Path,
    run_root: Path,
    rank: int,
    world: int,
    device: torch.device | None = None,
    data_workers: int = 0,
):
    device = torch.device("cpu") if device is None else device
    if recipe.kind == "vae":
        from vitascope.train.vae_task import VAETask

        return VAETask(recipe, run_dir, run_root, rank, world, device=device, data_workers=data_workers)
    if "lora" in recipe.extras:  # a LoRA fine-tune of a model folder (train/lora_task.py)
        from vitascope.train.lora_task import LoraTask

        return LoraTask(recipe, run_dir, run_root, rank, world, device=device)
    from vitascope.train.dit_task import DiTTask

    return DiTTask(recipe, run_dir, run_root, rank, world, device=device)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """ "auto" (or None): the local CUDA device when there is one, else the CPU. Under torchrun each process
    takes the GPU of its LOCAL_RANK."""
    import os

    from vitascope.errors import InvalidOptionError

    name = "auto" if device is None else str(device)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidOptionError(f"--device {name}: this torch sees no CUDA device; use --device cpu")
        if name == "cuda":
            name = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        torch.cuda.set_device(torch.device(name))
        return torch.device(name)
    if name != "cpu":
        raise InvalidOptionError(f"unknown training device {name!r}; use auto, cpu or cuda[:N]")
    return torch.device("cpu")


def _autocast(precision: str, device: torch.device):
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def _ema_model(task, ema: EMA):
    """A copy of the task's model holding the EMA weights (for previews and export)."""
    import copy

    model = copy.deepcopy(task.model)
    ema.copy_to(model)
    return model.eval()


def train(
    recipe: Recipe,
    run_dir: str | Path,
    max_steps: int | None = None,
    resume: bool = True,
    run_root: str | Path | None = None,
    export: bool = True,
    device: str | torch.device | None = "cpu",
    max_seconds: float | None = None,
    data_workers: int = 0,
) -> RunResult:
    """Run `recipe` into `run_dir` up to `max_steps` optimizer steps (default: the recipe's total).

    device: where the model trains ("cpu", "cuda[:N]" or "auto"); data is drawn on the CPU either way, so
    the samples (and, on the CPU, the losses) do not depend on it.
    max_seconds: stop after the first step that ends past this wall-clock budget (counted from here), then
    checkpoint and export as at the end. The learning rate is flat after warm-up, so a run stopped at step
    M is the recipe truncated at M: resuming continues it exactly.
    data_workers: processes that render the VAE's clips of the coming steps ahead (same clips as without)."""
    # 1. Set-up: process group (if any), task, sharding, optimizer, EMA.
    run_dir = Path(run_dir)
    run_root = Path(run_root) if run_root is not None else run_dir.parent
    started = time.monotonic()
    rank, world = _dist()
    device = resolve_device(device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # GPU runs are not compared bit for bit
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True  # fixed bucket shapes: pick the fastest 3D-conv kernels once
    end = recipe.total_steps if max_steps is None else min(max_steps, recipe.total_steps)
    task = make_task(recipe, run_dir, run_root, rank, world, device=device, data_workers=data_workers)
    if world > 1:
        from vitascope.parallel.fsdp import shard_model

        shard_model(task.model)
    optimizer = build_optimizer(
        task.model, recipe.lr, recipe.betas, recipe.weight_decay, foreach=device.type == "cuda"
    )
    ema = EMA(task.model, recipe.ema_decay)
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "recipe.json").write_text(json.dumps(_recipe_json(recipe), indent=1))

    # 2. Resume.
    step = 0
    ckpt = latest_checkpoint(run_dir) if resume else None
    if ckpt is not None:
        meta = load_checkpoint(ckpt, task.model, optimizer, ema, task.extra_modules, task.extra_optimizers)
        step = int(meta["step"])
    task.prepare(end - step)
    metrics = MetricsLog(run_dir, recipe.log_every, enabled=rank == 0, start_step=step)

    # 3. Steps.
    losses: list[float] = []
    task.model.train()
    while step < end:
        t0 = time.perf_counter()
        _, stage = recipe.stage_at(step)
        set_lr(optimizer, lr_at(step, stage.lr or recipe.lr, recipe.warmup_steps))
        step_loss, samples, info = 0.0, 0, {}
        for micro in range(recipe.grad_accum):
            bucket = pick_bucket(stage.buckets, np.random.default_rng([recipe.seed, step, micro, 0]))
            mine = split_batch(bucket.batch_size, world, rank)
            with _autocast(recipe.precision, device):
                loss, info = task.micro_loss(step, micro, bucket, mine)
            (loss / recipe.grad_accum).backward()
            step_loss += _all_mean(loss.detach()) / recipe.grad_accum
            samples += bucket.batch_size
        grad_norm = clip_grad_norm(task.model, recipe.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if hasattr(task, "after_step"):
            task.after_step(step)
        ema.update(task.model)
        step += 1
        losses.append(step_loss)
        if max_seconds is not None and _any_rank(time.monotonic() - started > max_seconds):
            log.info(
                "%s: time budget of %.0f s used at step %d; stopping here", recipe.name, max_seconds, step
            )
            end = step
        metrics.add(
            step,
            {"loss": step_loss, "grad_norm": grad_norm, "lr": optimizer.param_groups[0]["lr"], **info},
            samples,
            force=step == end,
        )
        log.debug("step %d loss %.5f (%.2fs)", step, step_loss, time.perf_counter() - t0)

        # 4. Checkpoints and previews.
        if step % recipe.checkpoint_every == 0 or step == end:
            save_checkpoint(
                run_dir,
                step,
                task.model,
                optimizer,
                ema,
                {"recipe": recipe.name, "stage": stage.name},
                task.extra_modules,
                task.extra_optimizers,
                recipe.keep_checkpoints,
                is_writer=rank == 0,
            )
        if recipe.sample_every and step % recipe.sample_every == 0 and rank == 0 and world == 1:
            task.preview(step, _ema_model(task, ema))

    if hasattr(task, "close"):
        task.close()

    # 5. Export the EMA weights (also after a partial run: smoke runs produce a loadable model).
    export_dir = None
    if export and world == 1:
        export_dir = run_dir / "export"
        task.export(export_dir, _ema_model(task, ema))
    return RunResult(run_dir, step, losses, export_dir)


def _recipe_json(recipe: Recipe) -> dict:
    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(recipe)
