"""What the HTTP API and the web UI share: checking a request, storing its upload, queueing it.

Both front ends call `JobService`, so a job submitted from the browser and one posted with curl are the same
kind of row in the same store, run by the same worker, and refused with the same messages.
"""

from __future__ import annotations

import io
import logging
import uuid
from pathlib import Path

import numpy as np

from vitascope.errors import InputFileError, InvalidOptionError, VitascopeError
from vitascope.media import atomic_path
from vitascope.pipelines.options import validate
from vitascope.serve.config import ServeConfig, check_job_id
from vitascope.serve.schemas import JobRequest
from vitascope.serve.store import Job, JobStore
from vitascope.serve.worker import Worker

log = logging.getLogger(__name__)

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP")


class UploadTooLargeError(InputFileError):
    """The upload is above the server's size limit (HTTP 413)."""


class ModelUnavailableError(VitascopeError):
    """The model failed to load, so no job can run (HTTP 503)."""


class JobService:
    def __init__(self, config: ServeConfig, store: JobStore, worker: Worker):
        self.config = config
        self.store = store
        self.worker = worker
        from vitascope.serve.loras import LoraLibrary

        self.loras = LoraLibrary(config.lora_dir, config.lora_uploads)
        self._shapes = None  # the served DiT on meta (see _shape_model)

    def submit(self, request: JobRequest, image: bytes | None = None, audio: bytes | None = None) -> Job:
        """Validate, store the upload, queue the job and wake the worker. Raises VitascopeError subclasses."""
        if self.worker.status == "error":
            raise ModelUnavailableError(
                f"the model failed to load ({self.worker.load_error}); fix it and restart"
            )
        if self.worker.tasks and request.task not in self.worker.tasks:
            raise InvalidOptionError(
                f"the served model does not do task {request.task!r}; it supports {list(self.worker.tasks)}"
            )
        if request.task == "avatar":
            return self._submit_avatar(request, image, audio)
        if audio is not None:
            raise InvalidOptionError("an audio file was uploaded with a video task: use task 'avatar'")
        if request.task == "i2v" and image is None:
            raise InvalidOptionError(
                "task 'i2v' needs an input image: send the request as multipart/form-data with the picture "
                "in the file field 'image'"
            )
        if request.task != "i2v" and image is not None:
            raise InvalidOptionError(
                "an image was uploaded with task 't2v': use task 'i2v' for image-to-video"
            )
        pixels = np.asarray(check_image(image, self.config)) if image is not None else None  # [H, W, 3]

        job_id = uuid.uuid4().hex
        upload = self.config.upload_path(job_id)
        options = request.to_options(image=pixels)
        if self.worker.defaults is not None:
            options.resolve(self.worker.defaults, self.config.limits)
        else:  # model still loading: check what the request states; the worker resolves the rest
            validate(options, self.config.limits)

        if request.loras:
            self.check_loras([(r.name, r.weight) for r in request.loras])
        stored = request.stored()
        if pixels is not None:  # kept on disk only so a queued job survives a restart
            _save_png(pixels, upload)
            stored["image"] = str(upload.relative_to(self.config.data))
            self.worker.hold_image(job_id, pixels)  # this process's worker uses the pixels, never the file
        try:
            job = self.store.submit(job_id, request.task, stored, self.config.max_queue)
        except BaseException:
            upload.unlink(missing_ok=True)
            self.worker.take_image(job_id)
            raise
        self.worker.wake()
        log.info("job %s queued (%s)", job_id, request.task)
        return job

    def check_loras(self, refs: list[tuple[str, float]]) -> None:
        """Names known, weights in range, and (once the model is loaded) each file fits the served DiT."""
        from vitascope.serve.loras import MAX_LORAS, check_weight

        if len(refs) > MAX_LORAS:
            raise InvalidOptionError(f"at most {MAX_LORAS} LoRAs per job, got {len(refs)}")
        for name, weight in refs:
            path = self.loras.path(name)
            check_weight(weight)
            shapes = self._shape_model()
            if shapes is not None:
                self.loras.check(path, shapes)

    def upload_lora(self, data: bytes) -> tuple[str, int]:
        """Check an uploaded LoRA file against the served DiT and keep it; (name for jobs, layers)."""
        shapes = self._shape_model()
        if shapes is None:
            raise ModelUnavailableError(
                "the model is still loading; upload the LoRA when /v1/health is ready"
            )
        return self.loras.save_upload(data, shapes)

    def _shape_model(self):
        """The served DiT's structure on the meta device (no weights): LoRA files are checked against it,
        never against the worker's model, which may carry a running job's adapters. None while loading."""
        pipe = self.worker.pipe
        if pipe is None or self.worker.is_avatar:
            return None
        if self._shapes is None:
            import torch

            with torch.device("meta"):
                self._shapes = type(pipe.dit)(pipe.dit.config)
        return self._shapes

    def _submit_avatar(self, request: JobRequest, image: bytes | None, audio: bytes | None) -> Job:
        """Check the photo, decode the audio for real (limits, silence), then store both atomically."""
        from vitascope.serve.schemas import avatar_options

        if image is None or audio is None:
            missing = " and ".join(n for n, v in (("image", image), ("audio", audio)) if v is None)
            raise InvalidOptionError(
                f"task 'avatar' needs a photo and a voice recording: send multipart/form-data with the file "
                f"field(s) {missing} (missing here)"
            )
        pixels = np.asarray(check_image(image, self.config))  # [H, W, 3]
        samples = check_audio(audio, self.config)  # [N] 16 kHz mono
        stored = request.model_dump(exclude_none=True)
        opts = avatar_options(stored, pixels, samples, self.config.max_audio_seconds)
        _check_face(pixels, opts.face_box, getattr(self.worker.pipe, "detector", None))
        h, w = pixels.shape[:2]
        work = opts.image_size * opts.image_size * max(h, w) // min(h, w)  # the resized photo's pixels
        if work > self.config.limits.max_pixels:
            raise InvalidOptionError(
                f"image_size {opts.image_size} makes {work} pixels per frame for this photo; this server "
                f"allows at most {self.config.limits.max_pixels} (--max-pixels), so lower image_size"
            )
        if opts.steps > self.config.limits.max_steps:
            raise InvalidOptionError(
                f"steps must be at most {self.config.limits.max_steps} on this server, got {opts.steps}"
            )
        job_id = uuid.uuid4().hex
        upload, voice = self.config.upload_path(job_id), self.config.audio_path(job_id)
        _save_png(pixels, upload)
        try:
            from vitascope.media_audio import write_audio

            write_audio(samples, voice)  # atomic; the worker reads this file (also after a restart)
            stored["image"] = str(upload.relative_to(self.config.data))
            stored["audio"] = str(voice.relative_to(self.config.data))
            self.worker.hold_image(job_id, pixels)
            job = self.store.submit(job_id, "avatar", stored, self.config.max_queue)
        except BaseException:
            upload.unlink(missing_ok=True)
            voice.unlink(missing_ok=True)
            self.worker.take_image(job_id)
            raise
        self.worker.wake()
        log.info("job %s queued (avatar, %.2f s of audio)", job_id, samples.size / 16000)
        return job

    def get(self, job_id: str) -> Job:
        """Raises KeyError for an unknown or malformed id."""
        return self.store.get(check_job_id(job_id))

    def cancel(self, job_id: str) -> Job:
        job = self.store.cancel(check_job_id(job_id))
        if job.state == "running":
            self.worker.cancel(job_id)
        else:
            self.worker.take_image(job_id)  # a queued job that will never run: drop its pixels
        return job

    def video(self, job_id: str) -> Path:
        return self.config.video_path(job_id)

    def queue_position(self, job: Job) -> int | None:
        return self.store.queue_position(job)


def check_image(data: bytes, config: ServeConfig):
    """Decode an uploaded image after checking its size, real type and pixel count; return it as RGB."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > config.max_upload_bytes:
        raise UploadTooLargeError(
            f"the image is {len(data)} bytes; this server accepts at most {config.max_upload_bytes} bytes"
        )
    if not data:
        raise InputFileError(
            "the uploaded image is empty; attach a PNG, JPEG or WebP file in the field 'image'"
        )
    try:
        picture = Image.open(io.BytesIO(data))
        kind, (w, h) = picture.format, picture.size
    except (UnidentifiedImageError, OSError) as e:
        raise InputFileError(
            f"the upload in field 'image' is not an image (it could not be decoded: {e}); send PNG, JPEG or WebP"
        ) from e
    if kind not in IMAGE_FORMATS:
        raise InputFileError(f"image format {kind} is not accepted; send one of {', '.join(IMAGE_FORMATS)}")
    if w * h > config.max_image_pixels:
        raise InputFileError(
            f"the image is {w}x{h} pixels; this server accepts at most {config.max_image_pixels} pixels, "
            "so downscale it first"
        )
    try:
        picture.load()  # a truncated or corrupt file fails here, not in the worker
    except Exception as e:
        raise InputFileError(
            f"the {kind} image is damaged or truncated ({e}); re-export it and try again"
        ) from e
    return picture.convert("RGB")


def check_audio(data: bytes, config: ServeConfig) -> np.ndarray:
    """Decode an uploaded audio file for real (size, duration and silence limits); float32 16 kHz mono [N].
    The bytes go to a private temporary file that is always removed: a refused upload leaves nothing."""
    import os
    import tempfile

    from vitascope.media_audio import read_audio

    if len(data) > config.max_upload_bytes:
        raise UploadTooLargeError(
            f"the audio is {len(data)} bytes; this server accepts at most {config.max_upload_bytes} bytes"
        )
    if not data:
        raise InputFileError(
            "the uploaded audio is empty; attach a wav, mp3, m4a or flac file in field 'audio'"
        )
    fd, tmp = tempfile.mkstemp(prefix="vitascope-audio-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            return read_audio(tmp, max_seconds=config.max_audio_seconds)
        except InputFileError as e:  # the temporary name means nothing to the client
            raise InputFileError(
                str(e).replace(f"audio {tmp}", "the uploaded audio").replace(tmp, "the upload")
            ) from e
    finally:
        os.unlink(tmp)


def _check_face(pixels: np.ndarray, box, detector) -> None:
    """The given face box fits the photo, or a face is found (the served model's detector, else Haar), so a
    photo without a face is refused now rather than failing in the queue."""
    from vitascope.models.audio.face import check_box, find_face

    if box is not None:
        check_box(tuple(float(v) for v in box), pixels.shape[0], pixels.shape[1])
    else:
        find_face(pixels, detector=detector)


def _save_png(pixels: np.ndarray, path: Path) -> None:
    """Re-encode the upload as PNG (atomically): after a restart the worker never reads the client's bytes."""
    from PIL import Image

    with atomic_path(path, ".png") as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")
