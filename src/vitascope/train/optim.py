"""Optimizer and learning-rate schedule: AdamW, linear warm-up, then the stage's constant rate."""

from __future__ import annotations

import torch
from torch import nn


def build_optimizer(
    model: nn.Module, lr: float, betas, weight_decay: float, foreach: bool = False
) -> torch.optim.Optimizer:
    # No decay on norms, biases and embeddings-as-vectors: decaying them only fights the modulation.
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # foreach=False by default: the same update order on one and on two processes (bit-for-bit comparisons
    # in tests). On a GPU the per-tensor loop is thousands of tiny kernel launches a step: foreach there.
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=1e-8, foreach=foreach)


def lr_at(step: int, base_lr: float, warmup_steps: int) -> float:
    """Learning rate for optimizer step `step` (0-based): linear warm-up over `warmup_steps`, then flat."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    return base_lr


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def clip_grad_norm(model: nn.Module, max_norm: float) -> float:
    """Clip the global gradient norm (works for DTensor grads of FSDP2 too); returns the norm before."""
    params = [p for p in model.parameters() if p.grad is not None]
    if not params or max_norm <= 0:
        return 0.0
    # Per-tensor on CPU and for FSDP's DTensors (bit-for-bit equal runs); fused kernels on a GPU.
    foreach = params[0].device.type == "cuda" and not hasattr(params[0], "to_local")
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=foreach)
    if hasattr(norm, "full_tensor"):
        norm = norm.full_tensor()
    return float(norm)
