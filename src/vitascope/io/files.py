"""Atomic file writes: write a temporary file in the target's folder, flush it, then `os.replace` it.

A reader (or a crash) sees the old file or the new one, never half of one. Every writer in vitascope goes
through `atomic_write`; the helpers below only choose how the bytes are produced.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp)` to fill a temporary file next to `path`, then rename it onto `path`.

    The parent folder is created. On any error the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:  # the data is on disk before the rename makes it visible
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def temp_beside(path: Path, suffix: str = ".tmp") -> Path:
    """A new empty temporary file in `path`'s folder (same file system, so `os.replace` is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to `path` for a writer that fills it over time (an incremental mp4); it
    replaces `path` only if the block finishes without error."""
    path = Path(path)
    tmp = temp_beside(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any, **dumps: Any) -> Path:
    """JSON (indented, sorted keys, `str()` for anything else unless `dumps` says otherwise)."""
    options = {"indent": 2, "sort_keys": True, "default": str, **dumps}
    return write_text_atomic(path, json.dumps(obj, **options) + "\n")


def save_safetensors_atomic(path: str | os.PathLike, state: dict, metadata: dict | None = None) -> Path:
    """A safetensors file of `state` (tensors made contiguous and moved to the CPU first)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def torch_save_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """`torch.save` (a pickle: only for layouts that require one, such as Tencent's release files)."""
    import torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp))
