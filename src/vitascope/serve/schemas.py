"""Request and response bodies of the HTTP API.

The request model only checks types and spelling (unknown fields are refused, so a typo does not silently
fall back to a default); every range check is `GenerationOptions` + `Limits`, the same schema the CLI uses,
so both front ends answer a bad value with the same sentence.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vitascope.pipelines.options import GenerationOptions
from vitascope.serve.store import Job

# Fields a client may set; `image` arrives as a multipart file, never as a path.
OPTION_FIELDS = (
    "task", "prompt", "negative_prompt", "height", "width", "frames", "steps", "seed",
    "flow_shift", "guidance", "cfg_scale", "i2v_stability", "fps", "cache",
)  # fmt: skip

AVATAR_FIELDS = (
    "face_box",
    "deepcache",
    "wrap",
    "image_size",
    "emotion",
)  # task avatar only; its photo, audio (one per face) and emotion image arrive as files


class JobRequest(BaseModel):
    """A generation request. Unset fields take the served model's defaults."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["t2v", "i2v", "avatar"] = "t2v"
    prompt: str | None = Field(None, description="What the video shows (required except for task avatar).")
    negative_prompt: str | None = None
    height: int | None = Field(None, description="Pixels, a multiple of 16.")
    width: int | None = Field(None, description="Pixels, a multiple of 16.")
    frames: int | None = Field(None, description="4k+1: 1, 5, 9, ...")
    steps: int | None = Field(None, description="Denoising steps.")
    seed: int = 0
    flow_shift: float | None = None
    guidance: float | None = Field(None, description="Embedded guidance scale.")
    cfg_scale: float | None = Field(None, description="True classifier-free guidance; 1 disables it.")
    i2v_stability: bool | None = None
    fps: int | None = None
    cache: str | None = Field(
        None, description="Step cache POLICY[:THRESHOLD]: teacache, fbcache, deepcache."
    )
    face_box: str | None = Field(
        None,
        description="avatar: the face as X,Y,W,H in the photo's pixels; with several audio files one box per "
        "file, in order, separated by ';'.",
    )
    deepcache: bool | None = Field(None, description="avatar: reuse deep features between steps.")
    wrap: bool | None = Field(None, description="avatar: circular windows (the release's default).")
    image_size: int | None = Field(
        None, description="avatar: short side of the photo, a multiple of 64 (704)."
    )
    emotion: str | None = Field(
        None,
        description="avatar: a bundled expression (neutral, happy, sad, angry, surprised), or upload the file "
        "`emotion_image`; the model needs an emotion module.",
    )
    rewrite: Literal["normal", "master", "structured"] | None = Field(
        None,
        description="Rewrite the prompt first with the built-in offline rewriter (docs/rewrite.md); the job's "
        "prompt is then the rewritten one.",
    )

    @model_validator(mode="after")
    def _rewrite_prompt(self) -> JobRequest:
        """Apply `rewrite` once, here, and clear it: the stored job holds the prompt the model gets."""
        if self.prompt is None and self.task != "avatar":
            raise ValueError(f"field 'prompt' is required for task {self.task!r}")
        extra = [k for k in AVATAR_FIELDS if getattr(self, k) is not None]
        if extra and self.task != "avatar":
            raise ValueError(f"field(s) {', '.join(extra)} only apply to task 'avatar'")
        if self.rewrite:
            from vitascope.rewrite import rewrite_prompt

            self.prompt = rewrite_prompt(self.prompt, self.rewrite, "offline").prompt
            self.rewrite = None
        return self

    def to_options(self, image: str | None = None) -> GenerationOptions:
        """Build the shared option object (raises InvalidOptionError with the CLI's wording)."""
        return GenerationOptions(image=image, **self.model_dump(include=set(OPTION_FIELDS)))


def avatar_options(fields: dict, image, audio, max_audio_seconds: float | None, emotion_image=None):
    """The stored fields of an avatar job + its photo, audio (one, or a list: one per face) and emotion image
    -> AvatarOptions (InvalidOptionError on bad values, the CLI's wording)."""
    from vitascope.errors import InvalidOptionError
    from vitascope.models.audio.face import parse_face_box
    from vitascope.pipelines.avatar import AvatarOptions

    unknown = set(fields) - {"task", "prompt", "seed", "steps", *AVATAR_FIELDS}
    if unknown:
        raise InvalidOptionError(f"task 'avatar' does not take {', '.join(sorted(unknown))}")
    kw = {
        k: fields[k]
        for k in ("seed", "steps", "deepcache", "wrap", "image_size")
        if fields.get(k) is not None
    }
    boxes = (
        [parse_face_box(b.strip()) for b in fields["face_box"].split(";")] if fields.get("face_box") else []
    )
    return AvatarOptions(
        image=image,
        audio=audio,
        prompt=fields.get("prompt") or "",
        face_box=(boxes[0] if len(boxes) == 1 else tuple(boxes)) if boxes else None,
        max_audio_seconds=max_audio_seconds,
        emotion=fields.get("emotion"),
        emotion_image=emotion_image,
        **kw,
    )


class Progress(BaseModel):
    step: int
    total: int


class JobOut(BaseModel):
    id: str
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    task: str
    prompt: str
    options: dict
    progress: Progress
    error: str | None = None
    attempts: int
    cancel_requested: bool
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    queue_position: int | None = Field(None, description="1 = next to run; only while queued.")
    video_url: str | None = Field(None, description="Set once the job has succeeded.")
    events_url: str

    @classmethod
    def of(cls, job: Job, queue_position: int | None = None) -> JobOut:
        return cls(
            id=job.id,
            state=job.state,
            task=job.task,
            prompt=job.options.get("prompt") or "",
            options=job.options,
            progress=Progress(step=job.step, total=job.total),
            error=job.error,
            attempts=job.attempts,
            cancel_requested=job.cancel_requested,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            queue_position=queue_position if job.state == "queued" else None,
            video_url=f"/v1/jobs/{job.id}/video" if job.state == "succeeded" else None,
            events_url=f"/v1/jobs/{job.id}/events",
        )


class JobCreated(BaseModel):
    id: str
    state: str
    url: str


class JobList(BaseModel):
    jobs: list[JobOut]
    counts: dict[str, int]


class Health(BaseModel):
    status: Literal["loading", "ready", "error"]
    error: str | None = None
    model: dict | None = None
    tasks: list[str] = []
    defaults: dict | None = None
    limits: dict
    queue: dict[str, int]
