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

    def submit(
        self,
        request: JobRequest,
        image: bytes | None = None,
        audio: bytes | list[bytes] | None = None,
        emotion_image: bytes | None = None,
    ) -> Job:
        """Validate, store the upload, queue the job and wake the worker. Raises VitascopeError subclasses.
        audio: one voice, or a list (task avatar: one per face); emotion_image: task avatar only."""
        if self.worker.status == "error":
            raise ModelUnavailableError(
                f"the model failed to load ({self.worker.load_error}); fix it and restart"
            )
        if self.worker.tasks and request.task not in self.worker.tasks:
            raise InvalidOptionError(
                f"the served model does not do task {request.task!r}; it supports {list(self.worker.tasks)}"
            )
        if request.task == "avatar":
            return self._submit_avatar(request, image, audio, emotion_image)
        if audio is not None or emotion_image is not None:
            raise InvalidOptionError(
                "an audio or emotion file was uploaded with a video task: use task 'avatar'"
            )
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

        stored = request.model_dump(exclude_none=True)
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

    def _submit_avatar(self, request: JobRequest, image, audio, emotion_image) -> Job:
        """Check the photo (and emotion image), decode every voice for real (limits, silence), find one face
        per voice, then store the files atomically."""
        from vitascope.serve.schemas import avatar_options

        voices = audio if isinstance(audio, list) else [] if audio is None else [audio]
        if image is None or not voices:
            missing = " and ".join(n for n, v in (("image", image), ("audio", voices)) if not v)
            raise InvalidOptionError(
                f"task 'avatar' needs a photo and a voice recording: send multipart/form-data with the file "
                f"field(s) {missing} (missing here)"
            )
        pixels = np.asarray(check_image(image, self.config))  # [H, W, 3]
        tracks = [
            check_audio(v, self.config, allow_silent=len(voices) > 1) for v in voices
        ]  # each [N] 16 kHz
        if not any(np.abs(t).max(initial=0.0) > 1e-4 for t in tracks):
            raise InputFileError("every uploaded audio track is silent; at least one voice must speak")
        emotion = np.asarray(check_image(emotion_image, self.config)) if emotion_image is not None else None
        stored = request.model_dump(exclude_none=True)
        opts = avatar_options(
            stored, pixels, tracks if len(tracks) > 1 else tracks[0], self.config.max_audio_seconds, emotion
        )
        _check_face(pixels, opts, getattr(self.worker.pipe, "detector", None))
        dit = getattr(self.worker.pipe, "dit", None)
        if (
            (opts.emotion or emotion is not None)
            and dit is not None
            and not getattr(dit, "has_emotion", False)
        ):
            raise InvalidOptionError(
                "the served Avatar model has no emotion module: drop emotion / emotion_image"
            )
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
        upload = self.config.upload_path(job_id)
        written = [upload]
        _save_png(pixels, upload)
        try:
            from vitascope.media_audio import write_audio

            rel = []
            for k, samples in enumerate(tracks):  # atomic; the worker reads these (also after a restart)
                written.append(write_audio(samples, self.config.audio_path(job_id, k)))
                rel.append(str(written[-1].relative_to(self.config.data)))
            if emotion is not None:
                written.append(self.config.emotion_path(job_id))
                _save_png(emotion, written[-1])
                stored["emotion_image"] = str(written[-1].relative_to(self.config.data))
            stored["image"] = str(upload.relative_to(self.config.data))
            stored["audio"] = rel[0] if len(rel) == 1 else rel
            self.worker.hold_image(job_id, pixels)
            job = self.store.submit(job_id, "avatar", stored, self.config.max_queue)
        except BaseException:
            for path in written:
                Path(path).unlink(missing_ok=True)
            self.worker.take_image(job_id)
            raise
        self.worker.wake()
        log.info("job %s queued (avatar, %d voice(s), %.2f s)", job_id, len(tracks), tracks[0].size / 16000)
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


def check_audio(data: bytes, config: ServeConfig, allow_silent: bool = False) -> np.ndarray:
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
            return read_audio(tmp, max_seconds=config.max_audio_seconds, allow_silent=allow_silent)
        except InputFileError as e:  # the temporary name means nothing to the client
            raise InputFileError(
                str(e).replace(f"audio {tmp}", "the uploaded audio").replace(tmp, "the upload")
            ) from e
    finally:
        os.unlink(tmp)


def _check_face(pixels: np.ndarray, opts, detector) -> None:
    """The given face boxes fit the photo, or the faces are found (one per voice; the served model's
    detector, else Haar or the drawn-face finder), so a bad photo is refused now rather than in the queue."""
    from vitascope.models.audio.face import check_box, find_face
    from vitascope.models.audio.speakers import find_faces
    from vitascope.pipelines.avatar_inputs import box_list

    boxes = box_list(opts.face_box)
    if boxes is not None:
        for box in boxes:
            check_box(box, pixels.shape[0], pixels.shape[1])
    elif opts.speakers > 1:
        find_faces(pixels, opts.speakers, detector=detector)
    else:
        find_face(pixels, detector=detector)


def _save_png(pixels: np.ndarray, path: Path) -> None:
    """Re-encode the upload as PNG (atomically): after a restart the worker never reads the client's bytes."""
    from PIL import Image

    with atomic_path(path, ".png") as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")
