"""The one training loop: any recipe (DiT or VAE), one process or many (torchrun + FSDP2).

Per optimizer step: pick the stage and learning rate; for each of `grad_accum` micro-batches pick a bucket
(seeded by the step, so every rank agrees), compute this rank's share of the loss and backpropagate; clip,
step, update the EMA; log; checkpoint (DCP, sharded); write preview samples. A run resumes from its newest
checkpoint, on any number of processes, and continues exactly (data, noise and t are functions of the step).
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
from vitascope.train.checkpoint import (
    atomic_text,
    barrier,
    dist_info,
    full_model_state,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from vitascope.train.ema import EMA
from vitascope.train.logging import MetricsLog, progress
from vitascope.train.optim import build_optimizer, clip_grad_norm, lr_at, set_lr
from vitascope.train.recipes import Recipe

log = logging.getLogger("vitascope.train")


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    step: int
    losses: list[float]  # global mean loss of each step run in this call
    export_dir: Path | None


def _all_mean(value: torch.Tensor) -> float:
    import torch.distributed as dist

    rank, world = dist_info()
    if world > 1:
        value = value.detach().clone()
        dist.all_reduce(value)
        value /= world
    return float(value)


def _any_rank(flag: bool) -> bool:
    """True when `flag` is true on any process (every rank must stop at the same step)."""
    import torch.distributed as dist

    if dist_info()[1] == 1:
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
    if recipe.kind == "avatar":  # the Avatar DiT on the talking-head world (train/avatar_task.py)
        from vitascope.train.avatar_task import AvatarTask

        return AvatarTask(recipe, run_dir, run_root, rank, world, device=device)
    if recipe.lora_options is not None:  # a LoRA fine-tune of a model folder (train/lora_task.py)
        from vitascope.train.lora_task import LoraTask

        return LoraTask(recipe, run_dir, run_root, rank, world, device=device)
    if recipe.dit_options.variant == "pose":  # a PoseDiT on the figure world (train/pose_task.py)
        from vitascope.train.pose_task import PoseTask

        return PoseTask(recipe, run_dir, run_root, rank, world, device=device)
    from vitascope.train.dit_task import DiTTask

    return DiTTask(recipe, run_dir, run_root, rank, world, device=device)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The one device resolver (`vitascope.devices`), without Metal (training is CPU or CUDA). Under torchrun
    the CLI has made each process's own GPU the current one (torch.cuda.set_device) before this runs."""
    from vitascope.devices import resolve_device as _resolve

    dev = _resolve(device, allow_mps=False)
    if dev.type == "cuda" and dev.index is None:
        return torch.device(f"cuda:{torch.cuda.current_device()}")
    return dev


def _autocast(precision: str, device: torch.device):
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


@contextlib.contextmanager
def fast_gpu_math(device: torch.device):
    """TF32 matmuls and cudnn autotuning for the duration of a GPU run; the previous flags come back after
    (GPU runs are not compared bit for bit; fixed bucket shapes make cudnn's search pay off once)."""
    if device.type != "cuda":
        yield
        return
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
    )
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        (
            torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32,
            torch.backends.cudnn.benchmark,
        ) = saved


def ema_model(task, ema: EMA) -> torch.nn.Module | None:
    """An unsharded copy of the task's model holding the EMA weights, on rank 0 (None elsewhere).
    Collective under FSDP (the shards are gathered): every rank must call it."""
    state = full_model_state(task.model)  # buffers (and every parameter) gathered
    averaged = ema.full_state()
    if dist_info()[0] != 0:
        return None
    model = task.new_model()
    model.load_state_dict(state | averaged)
    return model.to(task.device).eval()


@dataclasses.dataclass
class _Run:
    """What one call of `train` holds between its steps."""

    recipe: Recipe
    run_dir: Path
    task: object
    optimizer: torch.optim.Optimizer
    ema: EMA
    scaler: torch.amp.GradScaler | None
    device: torch.device
    rank: int
    world: int


def _shard(model: torch.nn.Module, device: torch.device) -> None:
    """FSDP2-shard `model` and give every rank rank 0's weights: the other ranks built theirs on the meta
    device, so the full model is materialised once, not once per process."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    from vitascope.parallel.fsdp import shard_model

    full = model.state_dict() if dist_info()[0] == 0 else {}  # rank 0's tensors survive to_empty below
    shard_model(model)
    model.to_empty(device=device)
    opts = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    set_model_state_dict(model, full, options=opts)


def _setup(recipe, run_dir, run_root, device, data_workers) -> _Run:
    rank, world = dist_info()
    task = make_task(recipe, run_dir, run_root, rank, world, device=device, data_workers=data_workers)
    if world > 1:
        _shard(task.model, device)
    optimizer = build_optimizer(
        task.model, recipe.lr, recipe.betas, recipe.weight_decay, foreach=device.type == "cuda"
    )
    # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none.
    scaler = torch.amp.GradScaler(device.type) if recipe.precision == "fp16" else None
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_text(run_dir / "recipe.json", json.dumps(recipe.to_json(), indent=1))
    return _Run(
        recipe, run_dir, task, optimizer, EMA(task.model, recipe.ema_decay), scaler, device, rank, world
    )


def _resume(run: _Run) -> int:
    ckpt = latest_checkpoint(run.run_dir)
    if ckpt is None:
        return 0
    t = run.task
    meta = load_checkpoint(ckpt, t.model, run.optimizer, run.ema, t.extra_modules, t.extra_optimizers)
    if run.scaler is not None and meta.get("grad_scaler"):
        run.scaler.load_state_dict(meta["grad_scaler"])
    return int(meta["step"])


def _step(run: _Run, step: int) -> tuple[float, int, dict, float]:
    """One optimizer step: (global mean loss, samples, the task's info, grad norm)."""
    r, task = run.recipe, run.task
    _, stage = r.stage_at(step)
    set_lr(run.optimizer, lr_at(step, stage.lr or r.lr, r.warmup_steps))
    step_loss, samples, info = 0.0, 0, {}
    for micro in range(r.grad_accum):
        bucket = pick_bucket(stage.buckets, np.random.default_rng([r.seed, step, micro, 0]))
        mine = split_batch(bucket.batch_size, run.world, run.rank)
        with _autocast(r.precision, run.device):
            loss, info = task.micro_loss(step, micro, bucket, mine)
        scaled = loss / r.grad_accum
        (run.scaler.scale(scaled) if run.scaler is not None else scaled).backward()
        step_loss += _all_mean(loss.detach()) / r.grad_accum
        samples += bucket.batch_size
    if run.scaler is not None:
        run.scaler.unscale_(run.optimizer)  # clip the true gradients
    grad_norm = clip_grad_norm(task.model, r.grad_clip)
    if run.scaler is not None:
        run.scaler.step(run.optimizer)  # skipped when a gradient overflowed
    else:
        run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    _step_extras(run)
    if run.scaler is not None:
        run.scaler.update()
        info = info | {"grad_scale": float(run.scaler.get_scale())}
    run.ema.update(task.model)
    return step_loss, samples, info, grad_norm


def _step_extras(run: _Run) -> None:
    """Step the extra modules' optimizers (the VAE's discriminator). They are not sharded: under several
    processes their gradients are averaged first, so every rank keeps the same copy."""
    import torch.distributed as dist

    for name, opt in run.task.extra_optimizers.items():
        if run.world > 1:
            for p in run.task.extra_modules[name].parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= run.world
        if run.scaler is not None:
            run.scaler.step(opt)
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)


def _checkpoint(run: _Run, step: int, stage_name: str) -> None:
    state = {"recipe": run.recipe.name, "stage": stage_name}
    if run.scaler is not None:
        state["grad_scaler"] = run.scaler.state_dict()
    t = run.task
    save_checkpoint(
        run.run_dir,
        step,
        t.model,
        run.optimizer,
        run.ema,
        state,
        t.extra_modules,
        t.extra_optimizers,
        run.recipe.keep_checkpoints,
    )


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
    data_workers: processes that render the VAE's clips of the coming steps ahead (same clips as without).
    Under torch.distributed every process calls this; rank 0 writes the shared files and the export."""
    run_dir = Path(run_dir)
    run_root = Path(run_root) if run_root is not None else run_dir.parent
    started = time.monotonic()
    device = resolve_device(device)
    end = recipe.total_steps if max_steps is None else min(max_steps, recipe.total_steps)
    with fast_gpu_math(device):
        # 1. Set-up (task, sharding, optimizer, EMA) and resume.
        run = _setup(recipe, run_dir, run_root, device, data_workers)
        step = _resume(run) if resume else 0
        run.task.prepare(end - step)
        metrics = MetricsLog(run_dir, recipe.log_every, enabled=run.rank == 0, start_step=step)
        bar = progress(total=end, initial=step, desc=recipe.name, unit="step", enabled=run.rank == 0)

        # 2. Steps, checkpoints and previews.
        losses: list[float] = []
        run.task.model.train()
        while step < end:
            step_loss, samples, info, grad_norm = _step(run, step)
            step += 1
            losses.append(step_loss)
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.4f}", refresh=False)
            if max_seconds is not None and _any_rank(time.monotonic() - started > max_seconds):
                log.info(
                    "%s: time budget of %.0f s used at step %d; stopping here", recipe.name, max_seconds, step
                )
                end = step
            lr = run.optimizer.param_groups[0]["lr"]
            row = {"loss": step_loss, "grad_norm": grad_norm, "lr": lr, **info}
            metrics.add(step, row, samples, force=step == end)
            if step % recipe.checkpoint_every == 0 or step == end:
                _checkpoint(run, step, recipe.stage_at(step - 1)[1].name)
            if recipe.sample_every and step % recipe.sample_every == 0:
                model = ema_model(run.task, run.ema)  # collective
                if model is not None:
                    run.task.preview(step, model)
                barrier()
        bar.close()
        if hasattr(run.task, "close"):
            run.task.close()

        # 3. Export the EMA weights (also after a partial run: smoke runs produce a loadable model).
        export_dir = None
        if export:
            export_dir = run_dir / "export"
            model = ema_model(run.task, run.ema)  # gathered once, on rank 0
            if model is not None:
                run.task.export(export_dir, model)
            barrier()
    return RunResult(run_dir, step, losses, export_dir)
