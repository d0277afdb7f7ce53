"""The four stages every model load goes through: build on meta -> transforms -> load (strict) -> place.

- build:     the module is constructed on the meta device, so no time or memory goes into a random init.
- transform: callables `transform(model) -> model` change the structure (or hook the load) before any
             weight arrives: a LoRA merge now; fp8 layers, offload hooks and sequence parallel later.
- load:      the state dict is checked strictly (names every wrong key and the file) and assigned.
- place:     tensors move to the device and the compute dtype explicitly, one at a time, with progress.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn

from vitascope.io.weights import DEFAULT_HINT, load_strict

log = logging.getLogger(__name__)

Transform = Callable[[nn.Module], nn.Module]
Progress = Callable[[int, int], None]  # (bytes placed so far, total bytes)


def build_on_meta(build: Callable[[], nn.Module]) -> nn.Module:
    with torch.device("meta"):
        return build()


def place(
    model: nn.Module,
    device: torch.device | str,
    dtype: torch.dtype | None,
    progress: Progress | None = None,
) -> nn.Module:
    """Move every parameter and buffer to `device`, floating ones to `dtype` (None: keep), reporting bytes.

    Tensor by tensor, so a progress bar moves while a 13B model is read from its memory-mapped file.
    """
    device = torch.device(device)
    owned = [
        (m, name, t)
        for m in model.modules()
        for name, t in [*m.named_parameters(recurse=False), *m.named_buffers(recurse=False)]
        if t is not None
    ]
    total = sum(t.numel() * t.element_size() for _, _, t in owned)
    done = 0
    for m, name, t in owned:
        new = t.detach().to(device=device, dtype=dtype if (dtype and t.is_floating_point()) else None)
        if isinstance(t, nn.Parameter):
            setattr(m, name, nn.Parameter(new, requires_grad=t.requires_grad))
        else:
            setattr(m, name, new)  # an existing buffer name: stays a buffer, persistence unchanged
        done += t.numel() * t.element_size()
        if progress is not None:
            progress(done, total)
    return model


def assemble(
    build: Callable[[], nn.Module],
    state: Mapping[str, torch.Tensor],
    source,
    *,
    device: torch.device | str,
    dtype: torch.dtype | None,
    transforms: Iterable[Transform] = (),
    progress: Progress | None = None,
    what: str = "the model",
    hint: str = DEFAULT_HINT,
) -> nn.Module:
    """Build on meta, apply `transforms` in order, load `state` strictly, place; returns the model in eval."""
    model = build_on_meta(build)
    for transform in transforms:
        model = transform(model)
    load_strict(model, state, source, assign=True, what=what, hint=hint)
    place(model, device, dtype, progress)
    return model.eval()
