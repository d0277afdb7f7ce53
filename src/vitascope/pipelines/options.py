"""The one option schema shared by the CLI, the Python API and the HTTP API.

`GenerationOptions` holds what a user asked for; `None` means "the model's default". `resolve()` fills the
defaults from the model folder's `ModelDefaults` and validates the result, so every front end reports the
same errors with the same words.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitascope.errors import InvalidOptionError

TASKS = ("t2v", "i2v")


@dataclass(frozen=True)
class ModelDefaults:
    """Defaults that belong to a model (the official ones for the 13B models, smaller for the demo)."""

    height: int = 720
    width: int = 1280
    frames: int = 129
    steps: int = 50
    flow_shift: float = 7.0
    guidance: float = 6.0  # embedded guidance, fed to the DiT as guidance * 1000
    cfg_scale: float = 1.0  # true classifier-free guidance; 1.0 means one forward per step
    fps: int = 24
    negative_prompt: str = ""
    # I2V size when none is given: the official bucket family for the image's aspect ratio ("720p", "540p",
    # "360p"), or "default" for height x width (models trained at one size, like the demo model)
    i2v_resolution: str = "720p"
    i2v_stability: bool = True


@dataclass(frozen=True)
class Limits:
    """Upper bounds a server (or a cautious user) puts on requests.

    Host memory no longer grows with the frames (the decode streams into the file), so the frame count is
    bounded by the DiT, which sees the whole latent timeline at once: its activations grow with
    frames x height x width. `max_video_pixels` caps that product at the official 720p x 129-frame
    configuration (about 60 GB on the GPU for the 13B model), which allows longer clips at smaller sizes;
    `max_frames` is the ceiling for any size (docs/generation.md, "Frame limits").
    """

    max_frames: int = 1025
    max_pixels: int = 1280 * 720
    max_video_pixels: int = 129 * 1280 * 720
    max_steps: int = 100
    max_prompt_chars: int = 4000


@dataclass(frozen=True)
class GenerationOptions:
    prompt: str
    task: str = "t2v"
    negative_prompt: str | None = None
    image: Any = None  # i2v first frame: a file path, a PIL image or pixels (uint8 [H, W, 3], RGB)
    height: int | None = None
    width: int | None = None
    frames: int | None = None
    steps: int | None = None
    seed: int = 0
    flow_shift: float | None = None
    guidance: float | None = None
    cfg_scale: float | None = None
    i2v_stability: bool | None = None
    fps: int | None = None
    cache: str | None = None  # step cache "POLICY[:THRESHOLD]" (teacache, fbcache, deepcache); None = off
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.task not in TASKS:
            raise InvalidOptionError(f"task must be one of {TASKS}, got {self.task!r}")
        if not isinstance(self.prompt, str):
            raise InvalidOptionError("prompt must be a string")
        if self.image is not None and not isinstance(self.image, (str, Path)):
            from vitascope.media import as_pixels

            object.__setattr__(self, "image", as_pixels(self.image))  # a PIL image becomes its pixels
        has_image = self.image is not None and not (isinstance(self.image, str) and not self.image)
        if self.task == "i2v" and not has_image:
            raise InvalidOptionError("task 'i2v' needs an input image: pass --image PATH")
        if self.task == "t2v" and has_image:
            raise InvalidOptionError("an image was given with task 't2v': use task 'i2v' for image-to-video")
        if not (0 <= int(self.seed) < 2**63):
            raise InvalidOptionError(f"seed must be in [0, 2**63), got {self.seed}")

    def to_dict(self) -> dict:
        """JSON-ready: a path image as a string, pixels as their size and SHA-256 (never the pixels)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["extra"] = dict(self.extra)
        if isinstance(self.image, Path):
            out["image"] = str(self.image)
        elif self.image is not None and not isinstance(self.image, str):
            h, w = self.image.shape[:2]
            digest = hashlib.sha256(self.image.tobytes()).hexdigest()
            out["image"] = {"pixels": [h, w], "sha256": digest}
        return out

    def resolve(self, defaults: ModelDefaults, limits: Limits | None = None) -> GenerationOptions:
        """Fill unset fields from `defaults`, then validate every value (raises InvalidOptionError)."""
        filled = {}
        for f in dataclasses.fields(ModelDefaults):
            if f.name in ("i2v_resolution",):
                continue
            mine = getattr(self, f.name, None)
            filled[f.name] = getattr(defaults, f.name) if mine is None else mine
        out = dataclasses.replace(self, **filled)
        validate(out, limits)
        return out


def validate(o: GenerationOptions, limits: Limits | None = None) -> None:
    """Check sizes, frame counts and guidance values; the message says what to change."""
    for name, v in (("height", o.height), ("width", o.width)):
        if v is None:
            continue  # i2v: the size comes from the image bucket later and is checked again then
        if int(v) != v or v <= 0 or v % 16:
            raise InvalidOptionError(
                f"{name} must be a positive multiple of 16, got {v}; try {max(16, round(v / 16) * 16)}"
            )
    if o.frames is not None and (o.frames < 1 or (o.frames - 1) % 4):
        k = max(0, round((o.frames - 1) / 4))
        raise InvalidOptionError(
            f"frames must be 4k+1 (1, 5, 9, ..., 129) because the VAE packs 4 frames per latent; "
            f"got {o.frames}, try {4 * k + 1}"
        )
    if o.steps is not None and not (1 <= o.steps <= 1000):
        raise InvalidOptionError(f"steps must be between 1 and 1000, got {o.steps}")
    if o.flow_shift is not None and o.flow_shift <= 0:
        raise InvalidOptionError(f"flow_shift must be > 0, got {o.flow_shift}")
    if o.cfg_scale is not None and o.cfg_scale < 1.0:
        raise InvalidOptionError(f"cfg_scale must be >= 1.0 (1.0 disables true CFG), got {o.cfg_scale}")
    if o.guidance is not None and o.guidance < 0:
        raise InvalidOptionError(f"guidance must be >= 0, got {o.guidance}")
    if o.fps is not None and not (1 <= o.fps <= 120):
        raise InvalidOptionError(f"fps must be between 1 and 120, got {o.fps}")
    if o.cache:
        from vitascope.parallel.cache import StepCache

        StepCache.parse(o.cache)
    if limits is not None:
        if o.frames is not None and o.frames > limits.max_frames:
            raise InvalidOptionError(f"frames {o.frames} is above this server's limit of {limits.max_frames}")
        if o.height is not None and o.width is not None and o.height * o.width > limits.max_pixels:
            raise InvalidOptionError(
                f"{o.height}x{o.width} is above this server's limit of {limits.max_pixels} pixels per frame"
            )
        _check_video_pixels(o, limits)
        if o.steps is not None and o.steps > limits.max_steps:
            raise InvalidOptionError(f"steps {o.steps} is above this server's limit of {limits.max_steps}")
        if len(o.prompt) > limits.max_prompt_chars:
            raise InvalidOptionError(f"prompt is longer than {limits.max_prompt_chars} characters")


def _check_video_pixels(o: GenerationOptions, limits: Limits) -> None:
    if None in (o.frames, o.height, o.width) or o.frames * o.height * o.width <= limits.max_video_pixels:
        return
    most = (limits.max_video_pixels // (o.height * o.width) - 1) // 4 * 4 + 1
    raise InvalidOptionError(
        f"{o.frames} frames at {o.width}x{o.height} is above this server's limit of "
        f"{limits.max_video_pixels} pixels per video (frames x height x width); use at most {max(1, most)} "
        "frames at this size, or a smaller size"
    )
