"""Curation settings: one frozen dataclass per stage group, loadable from a JSON or TOML file.

Defaults follow the HunyuanVideo data section (seed 001, §2.1-2.2) where it gives numbers (stage resolutions,
at most 5 people in portrait data) and are otherwise conservative values tuned on the procedural test clips.
Every threshold is in resolution-free units (fractions of the frame, seconds, luma 0-255) so the same file
works for 240p test clips and 1080p footage.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitascope.errors import InvalidOptionError

CAMERA_MOTIONS = (
    "zoom in", "zoom out",
    "pan up", "pan down", "pan left", "pan right",
    "tilt up", "tilt down", "tilt left", "tilt right",
    "around left", "around right",
    "static shot", "handheld shot",
)  # fmt: skip


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise InvalidOptionError(msg)


@dataclass(frozen=True)
class SplitConfig:
    """Stage 1-2: shot detection, clip length limits, sharpest start frame."""

    content_threshold: float = 27.0  # PySceneDetect ContentDetector (HSV delta, 0-255)
    adaptive_threshold: float = 3.0  # AdaptiveDetector ratio to the rolling average
    min_scene_frames: int = 6
    min_clip_s: float = 1.0  # shorter shots are kept in the manifest but rejected ("too_short")
    max_clip_s: float = 10.0  # longer shots are cut into chunks of at most this length
    sharp_search_s: float = 0.5  # look for the sharpest start frame in this window at the clip start
    sharp_tolerance: float = 0.6  # first frame within this fraction of the window's best counts as sharpest

    def __post_init__(self):
        _check(self.min_clip_s > 0, f"split.min_clip_s must be > 0 seconds, got {self.min_clip_s}")
        _check(
            self.max_clip_s >= 2 * self.min_clip_s,
            f"split.max_clip_s ({self.max_clip_s}) must be at least twice min_clip_s ({self.min_clip_s}) "
            "so that chunking a long shot never leaves a too-short tail",
        )
        _check(self.min_scene_frames >= 1, "split.min_scene_frames must be >= 1")
        _check(0 < self.sharp_tolerance <= 1, "split.sharp_tolerance must be in (0, 1]")
        _check(self.sharp_search_s >= 0, "split.sharp_search_s must be >= 0")


@dataclass(frozen=True)
class QualityConfig:
    """Stage 3: technical quality and borders. Luma values are on the 0-255 scale."""

    min_sharpness: float = 100.0  # variance of the Laplacian of the analysis-size luma
    max_dark_luma: float = 40.0  # mean luma below this: underexposed
    min_bright_luma: float = 220.0  # mean luma above this: overexposed
    min_contrast: float = 12.0  # luma standard deviation
    min_colourfulness: float = 0.0  # Hasler-Suesstrunk; 0 keeps grey-scale footage
    max_noise: float = 12.0  # Immerkaer noise sigma
    max_frozen_fraction: float = 0.5  # fraction of consecutive frame pairs that are identical
    border_luma: float = 20.0  # rows/columns darker than this (and flat) count as black border
    min_border_fraction: float = 0.03  # borders thinner than this are ignored

    def __post_init__(self):
        _check(self.max_dark_luma < self.min_bright_luma, "quality.max_dark_luma must be < min_bright_luma")
        _check(0 < self.max_frozen_fraction <= 1, "quality.max_frozen_fraction must be in (0, 1]")
        _check(0 <= self.min_border_fraction < 0.5, "quality.min_border_fraction must be in [0, 0.5)")


@dataclass(frozen=True)
class MotionConfig:
    """Stage 4: optical-flow speed (frame widths per second) and the camera-motion classifier."""

    min_speed: float = 0.01  # below: "static" (nothing moves)
    max_speed: float = 1.5  # above: "too_fast"
    flow_width: int = 160  # optical flow runs at this width
    pairs: int = 10  # frame pairs sampled per clip
    pair_interval_s: float = 0.125  # time between the two frames of a pair
    static_rate: float = 0.03  # camera parameters (half-frame units per second) below this: static shot
    handheld_consistency: float = 0.45  # steps agreeing less than this in direction: handheld shot

    def __post_init__(self):
        _check(0 <= self.min_speed < self.max_speed, "motion.min_speed must be >= 0 and < max_speed")
        _check(self.flow_width >= 32, "motion.flow_width must be >= 32 pixels")
        _check(self.pairs >= 2, "motion.pairs must be >= 2")
        _check(0 < self.handheld_consistency < 1, "motion.handheld_consistency must be in (0, 1)")


@dataclass(frozen=True)
class TextConfig:
    """Stage 5: OCR (rapidocr ships its own ONNX models)."""

    enabled: bool = True
    frames: int = 2  # frames per clip sent to OCR (the slowest stage)
    ocr_size: int = 320  # OCR sees frames scaled to this longest side
    max_text_ratio: float = 0.03  # text area outside a cropped subtitle band, as a fraction of the frame
    subtitle_band: float = 0.3  # text boxes entirely in the bottom fraction count as subtitles
    subtitle_action: str = "crop"  # "crop" the band away, or "drop" the clip

    def __post_init__(self):
        _check(self.subtitle_action in ("crop", "drop"), "text.subtitle_action must be 'crop' or 'drop'")
        _check(0 < self.subtitle_band < 0.5, "text.subtitle_band must be in (0, 0.5)")
        _check(self.frames >= 1, "text.frames must be >= 1")


@dataclass(frozen=True)
class OverlayConfig:
    """Stage 6: static watermarks/logos as edges that persist across frames while the picture changes."""

    corner: float = 0.3  # search each corner box of this fraction of width and height
    persistence: float = 0.9  # an edge pixel present in this fraction of sampled frames is persistent
    min_density: float = 0.01  # persistent-edge pixels per corner-box pixel to flag a logo
    max_background_persistence: float = 0.2  # skip the test when the whole picture is this static
    action: str = "flag"  # "flag" or "crop" (cut the band that holds the logo)
    max_crop: float = 0.35  # with action="crop": cut at most this fraction of the height; else only flag

    def __post_init__(self):
        _check(self.action in ("flag", "crop"), "overlay.action must be 'flag' or 'crop'")
        _check(0 < self.corner <= 0.5, "overlay.corner must be in (0, 0.5]")


@dataclass(frozen=True)
class PeopleConfig:
    """Stage 7: OpenCV's bundled Haar face and HOG person detectors, for the portrait filter."""

    enabled: bool = True
    max_people: int = 5  # the paper's portrait data allows at most 5 people
    min_subject_fraction: float = 0.1  # largest person/face height / frame height, when people are present
    frames: int = 2

    def __post_init__(self):
        _check(self.max_people >= 1, "people.max_people must be >= 1")


@dataclass(frozen=True)
class EmbedConfig:
    """Stage 8: embeddings, near-duplicate removal, concept clusters."""

    embedder: str = "builtin"  # "builtin" or "clip" (CLIP/SigLIP via transformers, needs model_folder)
    model_folder: str | None = None
    frames: int = 3
    dedup_threshold: float = 0.95  # cosine similarity above which the lower-quality clip is dropped
    clusters: int = 16  # k-means concept centroids (the paper uses ~10k at web scale)
    balance_power: float = 1.0  # resampling weight ~ cluster_size ** -power

    def __post_init__(self):
        _check(self.embedder in ("builtin", "clip"), "embed.embedder must be 'builtin' or 'clip'")
        _check(self.embedder != "clip" or self.model_folder, "embed.embedder='clip' needs embed.model_folder")
        _check(0 < self.dedup_threshold <= 1, "embed.dedup_threshold must be in (0, 1]")
        _check(self.clusters >= 1, "embed.clusters must be >= 1")


@dataclass(frozen=True)
class CaptionConfig:
    """Stage 9: structured captions and training variants."""

    captioner: str = "builtin"  # "builtin" (from measured attributes) or "vlm" (needs model_folder)
    model_folder: str | None = None
    variants: int = 4
    field_dropout: float = 0.3
    seed: int = 0

    def __post_init__(self):
        _check(self.captioner in ("builtin", "vlm"), "caption.captioner must be 'builtin' or 'vlm'")
        _check(
            self.captioner != "vlm" or self.model_folder, "caption.captioner='vlm' needs caption.model_folder"
        )
        _check(0 <= self.field_dropout < 1, "caption.field_dropout must be in [0, 1)")


@dataclass(frozen=True)
class TrainingStage:
    """One progressive training stage: what a kept clip needs to enter its dataset."""

    name: str
    min_short_side: int
    min_duration_s: float
    min_sharpness: float = 0.0
    min_speed: float = 0.0


def _default_stages() -> tuple[TrainingStage, ...]:
    # Resolutions of the paper's progressive schedule; later stages ask for sharper, livelier clips.
    return (
        TrainingStage("256p", 240, 1.0),
        TrainingStage("360p", 352, 2.0, 80.0, 0.02),
        TrainingStage("540p", 528, 2.0, 100.0, 0.03),
        TrainingStage("720p", 704, 4.0, 120.0, 0.04),
        TrainingStage("720p-hq", 704, 4.0, 160.0, 0.05),
    )


@dataclass(frozen=True)
class DatasetConfig:
    """Stage 10: per-stage thresholds and buckets (duration x aspect ratio)."""

    stages: tuple[TrainingStage, ...] = field(default_factory=_default_stages)
    duration_buckets_s: tuple[float, ...] = (1.0, 2.0, 4.0, 5.4)  # 5.4 s = 129 frames at 24 fps
    aspect_buckets: tuple[str, ...] = ("9:16", "3:4", "1:1", "4:3", "16:9", "21:9")

    def __post_init__(self):
        stages = tuple(s if isinstance(s, TrainingStage) else TrainingStage(**s) for s in self.stages)
        object.__setattr__(self, "stages", stages)
        _check(len({s.name for s in stages}) == len(stages), "dataset.stages names must be unique")
        _check(
            list(self.duration_buckets_s) == sorted(self.duration_buckets_s), "duration_buckets_s must ascend"
        )
        for a in self.aspect_buckets:
            _check(len(a.split(":")) == 2, f"aspect bucket {a!r} must look like 'W:H', e.g. '16:9'")


@dataclass(frozen=True)
class EncodeConfig:
    """Stage 11: latent precompute after curation (skipped unless vae_folder is set)."""

    vae_folder: str | None = None
    llm_folder: str | None = None  # text states; without it shards hold latents only
    clip_folder: str | None = None  # pooled CLIP text features
    short_side: int = 256
    fps: float = 24.0
    stage: str | None = None  # only clips of this training stage dataset; None: every kept clip
    shard_size: int = 16

    def __post_init__(self):
        _check(
            self.short_side % 16 == 0, f"encode.short_side must be a multiple of 16, got {self.short_side}"
        )
        _check(self.fps > 0 and self.shard_size >= 1, "encode.fps must be > 0 and encode.shard_size >= 1")
        _check(self.clip_folder is None or self.llm_folder, "encode.clip_folder needs encode.llm_folder too")


@dataclass(frozen=True)
class CurateConfig:
    split: SplitConfig = field(default_factory=SplitConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    overlay: OverlayConfig = field(default_factory=OverlayConfig)
    people: PeopleConfig = field(default_factory=PeopleConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    caption: CaptionConfig = field(default_factory=CaptionConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    analysis_size: int = 256  # longest side of the frames the analysers see
    sample_frames: int = 8  # frames per clip for the quality, border and overlay stages
    extensions: tuple[str, ...] = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")

    def __post_init__(self):
        _check(self.analysis_size >= 64, "analysis_size must be >= 64 pixels")
        _check(self.sample_frames >= 2, "sample_frames must be >= 2")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def config_from_dict(data: dict[str, Any]) -> CurateConfig:
    """Build a CurateConfig from nested dicts; unknown keys are errors so typos do not pass silently."""
    return _build(CurateConfig, data, "config")


def _build(cls, data: dict[str, Any], where: str):
    if not isinstance(data, dict):
        raise InvalidOptionError(f"{where} must be a table/object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InvalidOptionError(f"unknown keys in {where}: {unknown}; known keys: {sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        sub = _SECTIONS.get(name) if cls is CurateConfig else None
        if sub is not None:
            kwargs[name] = _build(sub, value, f"{where}.{name}")
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise InvalidOptionError(f"bad value in {where}: {e}") from e


_SECTIONS = {
    "split": SplitConfig, "quality": QualityConfig, "motion": MotionConfig, "text": TextConfig,
    "overlay": OverlayConfig, "people": PeopleConfig, "embed": EmbedConfig, "caption": CaptionConfig,
    "dataset": DatasetConfig, "encode": EncodeConfig,
}  # fmt: skip


def load_config(path: str | Path | None) -> CurateConfig:
    """Read a JSON (.json) or TOML (.toml) file; None gives the defaults."""
    if path is None:
        return CurateConfig()
    path = Path(path)
    if not path.is_file():
        raise InvalidOptionError(f"config file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10: the same parser, from PyPI
                import tomli as tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ValueError as e:
        raise InvalidOptionError(f"cannot parse {path}: {e}. Use JSON (.json) or TOML (.toml).") from e
    return config_from_dict(data)
