"""Deterministic weights from a seed, defined on key names and shapes alone.

The Avatar parity model is about a billion parameters, too large to commit. The golden script fills the
official model with these weights and the parity test fills ours with the same ones: both sides only need to
agree on the (key, shape) list, which is the point of keeping the release's key names.
"""

from __future__ import annotations

import torch


def seeded_tensor(key: str, shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """One tensor: fan-in scaled normal for matrices, ~1 for norm gains, small normal for biases."""
    x = torch.randn(shape, generator=g, dtype=torch.float32)
    if len(shape) >= 2:
        fan_in = 1
        for s in shape[1:]:
            fan_in *= s
        return x / fan_in**0.5
    if key.endswith("weight"):  # 1-D weights are the gains of LayerNorm / RMSNorm
        return 1.0 + 0.1 * x
    return 0.05 * x


def seeded_state_dict(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    """Fill every key, in sorted key order, from one torch.Generator seeded with `seed`."""
    g = torch.Generator().manual_seed(seed)
    return {k: seeded_tensor(k, tuple(shapes[k]), g) for k in sorted(shapes)}
