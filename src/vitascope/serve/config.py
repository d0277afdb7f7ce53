"""Settings of one `vitascope serve` process, validated once at start-up.

Everything the server writes lives under `data`: the SQLite job store, the uploaded images and the finished
videos. Pointing a new process at the same folder resumes where the last one stopped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from vitascope.errors import InvalidOptionError
from vitascope.parallel.speed import SpeedOptions
from vitascope.pipelines.options import Limits

# Job ids are server-made uuid4 hex strings; anything else is rejected before it can reach a file path.
JOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class ServeConfig:
    data: Path
    model: str | None = None  # None = the bundled demo model
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None  # Bearer token; None leaves the server open (bind to localhost then)
    device: str = "cpu"
    devices: tuple[str, ...] = ()  # several: one worker per device over the one job store (serve/pool.py)
    dtype: str = "float32"
    store_path: Path | None = None  # SQLite file; default data/jobs.sqlite
    limits: Limits = field(default_factory=Limits)
    max_queue: int = 64  # queued (not yet running) jobs; one more is answered with 429
    max_upload_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 4096 * 4096  # larger uploads are refused before decoding (decompression bombs)
    max_audio_seconds: float = 60.0  # avatar jobs: longer audio is refused while decoding
    max_attempts: int = 3  # a job interrupted this many times by restarts is failed instead of re-queued
    ui: bool = True
    lora_dir: Path | None = None  # LoRA files (*.safetensors) jobs may name; uploads go to data/loras
    speed: SpeedOptions | None = None  # offload, fp8, compile, attention: applied to each worker's model

    def __post_init__(self):
        object.__setattr__(self, "data", Path(self.data))
        if self.lora_dir is not None:
            object.__setattr__(self, "lora_dir", Path(self.lora_dir))
            if not self.lora_dir.is_dir():
                raise InvalidOptionError(f"--lora-dir {self.lora_dir} is not a folder")
        if self.store_path is not None:
            object.__setattr__(self, "store_path", Path(self.store_path))
        if not (0 <= self.port < 65536):
            raise InvalidOptionError(f"port must be in 0..65535, got {self.port}")
        if self.token is not None and len(self.token) < 8:
            raise InvalidOptionError(
                "token must be at least 8 characters; generate one with `openssl rand -hex 16`"
            )
        if self.max_queue < 1:
            raise InvalidOptionError(f"max_queue must be >= 1, got {self.max_queue}")
        if self.max_upload_bytes < 1024:
            raise InvalidOptionError(f"max_upload_bytes must be >= 1024, got {self.max_upload_bytes}")
        if not self.max_audio_seconds > 0:
            raise InvalidOptionError(f"max_audio_seconds must be > 0, got {self.max_audio_seconds}")
        if self.max_attempts < 1:
            raise InvalidOptionError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise InvalidOptionError(f"dtype must be float32, bfloat16 or float16, got {self.dtype!r}")

    @property
    def db_path(self) -> Path:
        return self.store_path if self.store_path is not None else self.data / "jobs.sqlite"

    @property
    def uploads(self) -> Path:
        return self.data / "uploads"

    @property
    def outputs(self) -> Path:
        return self.data / "outputs"

    @property
    def lora_uploads(self) -> Path:
        return self.data / "loras"

    def video_path(self, job_id: str) -> Path:
        check_job_id(job_id)
        return self.outputs / f"{job_id}.mp4"

    def upload_path(self, job_id: str) -> Path:
        check_job_id(job_id)
        return self.uploads / f"{job_id}.png"

    def pose_path(self, job_id: str, kind: str) -> Path:
        """A pose job's uploaded motion source: kind "pose_json" (.pose.json) or "pose_video" (.pose.video)."""
        check_job_id(job_id)
        return self.uploads / f"{job_id}.{'pose.json' if kind == 'pose_json' else 'pose.video'}"

    def audio_path(self, job_id: str, index: int = 0) -> Path:
        """An avatar job's audio (voice `index` of several), re-encoded as 16 kHz mono wav after it decoded."""
        check_job_id(job_id)
        return self.uploads / (f"{job_id}.wav" if index == 0 else f"{job_id}-{int(index)}.wav")

    def emotion_path(self, job_id: str) -> Path:
        """An avatar job's emotion reference image, re-encoded as PNG."""
        check_job_id(job_id)
        return self.uploads / f"{job_id}-emotion.png"

    def make_dirs(self) -> None:
        for d in (self.data, self.uploads, self.outputs, self.db_path.parent):
            d.mkdir(parents=True, exist_ok=True)


def check_job_id(job_id: str) -> str:
    """Return `job_id` if it has the server's id shape; raise KeyError otherwise (it cannot exist)."""
    if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
        raise KeyError(job_id)
    return job_id
