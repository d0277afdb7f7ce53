"""LoRAs per request: which files a job may name, checking them, and applying them around one job.

A job names LoRAs as `[{"name": ..., "weight": ...}]`. A name is a `.safetensors` file of the server's
`--lora-dir` (its stem) or one uploaded through `POST /v1/loras` (kept under DATA/loras, named by its
content hash). Clients never send paths. Every file is checked before a job can use it: safetensors only
(never a pickle), and every key a LoRA key of a Linear layer of the served DiT with fitting shapes
(`convert.lora.read_lora`, whose error names the missing or unexpected keys).

The worker applies a job's LoRAs as PEFT adapters just before it generates and removes them right after
(`job_loras`), in its own thread: the worker is the only code that touches the model, so no other job can
see them, and the model is exactly the served one again afterwards (tested).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import re
from pathlib import Path

from vitascope.errors import InvalidOptionError, VitascopeError

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MAX_LORAS = 8
MAX_WEIGHT = 4.0
UPLOAD_PREFIX = "upload-"


def check_weight(weight: float) -> float:
    if not (math.isfinite(weight) and abs(weight) <= MAX_WEIGHT):
        raise InvalidOptionError(
            f"LoRA weight must be a number in [-{MAX_WEIGHT:g}, {MAX_WEIGHT:g}], got {weight}"
        )
    return float(weight)


class LoraLibrary:
    """The LoRA files a server offers: its --lora-dir (read-only) and the uploads under DATA/loras."""

    def __init__(self, lora_dir: Path | None, uploads: Path):
        self.lora_dir = Path(lora_dir) if lora_dir is not None else None
        self.uploads = Path(uploads)
        self._checked: dict[tuple[str, int, int], int] = {}  # (path, size, mtime) -> layers, for one model

    def names(self) -> list[str]:
        found = []
        for folder in (self.lora_dir, self.uploads):
            if folder is not None and folder.is_dir():
                found += [p.stem for p in sorted(folder.glob("*.safetensors")) if NAME_RE.match(p.stem)]
        return found

    def path(self, name: str) -> Path:
        """The file of a LoRA name; InvalidOptionError naming the choices when there is none."""
        if isinstance(name, str) and NAME_RE.match(name):
            folder = self.uploads if name.startswith(UPLOAD_PREFIX) else self.lora_dir
            if folder is not None and (folder / f"{name}.safetensors").is_file():
                return folder / f"{name}.safetensors"
        have = ", ".join(self.names()) or "none (start the server with --lora-dir, or upload to /v1/loras)"
        raise InvalidOptionError(f"unknown LoRA {name!r}; this server has: {have}")

    def check(self, path: Path, dit) -> int:
        """Read `path` against the served DiT (raises InvalidOptionError); the number of layers it changes."""
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in self._checked:
            self._checked[key] = len(read_checked(path, dit))
        return self._checked[key]

    def save_upload(self, data: bytes, dit) -> tuple[str, int]:
        """Check an uploaded file against the served DiT and keep it (checked, then renamed into place:
        a half-written or refused upload is never listed); (its name, layers)."""
        import os

        name = UPLOAD_PREFIX + hashlib.sha256(data).hexdigest()[:16]
        target = self.uploads / f"{name}.safetensors"
        if not target.exists():
            self.uploads.mkdir(parents=True, exist_ok=True)
            tmp = self.uploads / f".{name}.{os.getpid()}.tmp.safetensors"  # read_lora goes by the suffix
            tmp.write_bytes(data)
            try:
                read_checked(tmp, dit, "(the upload)")
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        return name, self.check(target, dit)


def read_checked(path: Path, dit, label: str | None = None) -> dict:
    """`read_lora` after making sure the file is a safetensors file (never unpickled)."""
    from safetensors import SafetensorError, safe_open

    from vitascope.convert.lora import read_lora

    try:
        with safe_open(str(path), framework="pt") as f:
            f.keys()
    except (SafetensorError, OSError, ValueError) as e:
        raise InvalidOptionError(
            f"a LoRA must be a .safetensors file; {label or path.name} is not one ({e})"
        ) from e
    try:
        return read_lora(path, dit)
    except VitascopeError as e:  # keys or shapes that do not fit the served model: the client's mistake
        raise InvalidOptionError(f"LoRA {label or path.stem} does not fit the served model: {e}") from e


@contextlib.contextmanager
def job_loras(dit, files: list[tuple[Path, float]]):
    """Apply (file, weight) LoRAs as PEFT adapters for the duration of the block; yields the records for
    the sidecar. Afterwards the adapters are deleted and the DiT's layers are plain Linear layers again."""
    from vitascope.convert.lora_peft import adapter_names, apply_loras, remove_adapters

    if not files:
        yield []
        return
    before = adapter_names(dit)
    parsed = [(read_checked(p, dit), w) for p, w in files]
    names = apply_loras(dit, parsed, merge=False)
    try:
        yield [
            {"name": p.stem, "weight": w, "mode": "runtime", "layers": len(lora)}
            for (p, w), (lora, _) in zip(files, parsed, strict=True)
        ]
    finally:
        remove_adapters(dit, names, keep=before)
