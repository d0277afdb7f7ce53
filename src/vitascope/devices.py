"""The one place that turns a device or dtype name into a torch object, with errors a user can act on.

Used by generation (`--device auto|cpu|cuda[:N]|mps`) and training (which passes its torchrun local rank:
library code reads no environment variables, and binding the process to a GPU is the caller's business).
"""

from __future__ import annotations

import torch

from vitascope.errors import InvalidOptionError

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def resolve_device(
    device: str | torch.device | None = "auto", *, local_rank: int | None = None, allow_mps: bool = True
) -> torch.device:
    """`auto` (or None): CUDA when visible, else Metal (when `allow_mps`), else the CPU.

    `cuda` without an index becomes `cuda:<local_rank>` when a local rank is given (one GPU per process).
    """
    name = "auto" if device is None else str(device)
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif allow_mps and _mps_available():
            name = "mps"
        else:
            name = "cpu"
    try:
        dev = torch.device(name)
    except RuntimeError:
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps") or (dev.type == "mps" and not allow_mps):
        kinds = "auto, cpu or cuda[:N]" + (" (or mps on Apple silicon)" if allow_mps else "")
        raise InvalidOptionError(f"unknown device {name!r}; use {kinds}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidOptionError(
                f"device {name!r} was asked for but no CUDA GPU is visible (this torch sees no CUDA device); "
                "use --device cpu"
            )
        if dev.index is None and local_rank is not None:
            dev = torch.device("cuda", local_rank)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InvalidOptionError(
                f"device {dev} does not exist: {torch.cuda.device_count()} GPU(s) visible"
            )
    if dev.type == "mps" and not _mps_available():
        raise InvalidOptionError("device 'mps' was asked for but Metal is not available; use cpu")
    return dev


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise InvalidOptionError(f"compute dtype must be float32, bfloat16 or float16, got {dtype}")
        return dtype
    if dtype not in DTYPES:
        raise InvalidOptionError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]
