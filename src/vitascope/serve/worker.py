"""The one worker: a thread that owns the pipeline and runs the stored jobs in order.

The HTTP API and the web UI only write to the job store and wake this thread; nothing else touches the
model, so the model is loaded once and a GPU never sees two generations at a time. A cancel request is
written to the store (durable) and mirrored in memory, which `should_stop` reads at every denoising step.
Stopping the server also stops the running job at its next step, and puts it back at the head of the queue
for the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from vitascope.errors import CancelledError, VitascopeError
from vitascope.parallel.speed import SpeedOptions, apply_speed
from vitascope.serve.config import ServeConfig
from vitascope.serve.store import Job, JobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AvatarDefaults:
    """What /v1/health reports as defaults when the Avatar model is served (AvatarOptions' own defaults)."""

    steps: int = 50
    seed: int = 0
    fps: float = 25.0
    image_size: int = 704
    deepcache: bool = True
    wrap: bool = True


AVATAR_DEFAULTS = AvatarDefaults()

# Progress is written to SQLite at most this often (and always at the first and last step): each write is a
# synced transaction, and the tiny model takes well under a millisecond per step.
PROGRESS_EVERY_S = 0.2


class Worker:
    def __init__(self, config: ServeConfig, store: JobStore):
        self.config = config
        self.store = store
        self.pipe = None
        self.status = "loading"  # loading -> ready | error
        self.load_error: str | None = None
        self.current: str | None = None  # id of the running job
        self.ready = threading.Event()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._cancelled: set[str] = set()  # running jobs asked to stop; the store keeps the durable flag
        self._images: dict = {}  # job id -> uploaded pixels [H, W, 3], so the worker skips the stored PNG
        self._thread = threading.Thread(target=self._main, name="vitascope-worker", daemon=True)
        from vitascope.serve.loras import LoraLibrary

        self.loras = LoraLibrary(config.lora_dir, config.lora_uploads)

    # -- control (called from other threads) ----------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Tell the worker a job was queued (it also polls once a second, so a missed wake only delays)."""
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        """Make `should_stop` true for this job at its next step (the store already holds the flag)."""
        self._cancelled.add(job_id)

    def hold_image(self, job_id: str, pixels) -> None:
        """Keep a checked upload in memory for its job (the PNG on disk is only for after a restart)."""
        self._images[job_id] = pixels

    def take_image(self, job_id: str):
        return self._images.pop(job_id, None)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the running job's current step; that job is re-queued, not lost."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def is_avatar(self) -> bool:
        from vitascope.pipelines.avatar import AvatarPipeline

        return isinstance(self.pipe, AvatarPipeline)

    @property
    def defaults(self):
        """The served model's generation defaults (an `AvatarOptions`-shaped record for the Avatar model)."""
        if self.pipe is None:
            return None
        return AVATAR_DEFAULTS if self.is_avatar else self.pipe.defaults

    @property
    def tasks(self) -> tuple[str, ...]:
        if self.pipe is None:
            return ()
        return ("avatar",) if self.is_avatar else tuple(self.pipe.tasks)

    # -- the thread -----------------------------------------------------------------------------------

    def _main(self) -> None:
        if not self._load():
            return
        while not self._stopping.is_set():
            self._wake.clear()
            job = self.store.claim_next()
            if job is None:
                self._wake.wait(timeout=1.0)
                continue
            self._run(job)

    def _load(self) -> bool:
        import vitascope

        t0 = time.perf_counter()
        try:
            self.pipe = vitascope.load_pipeline(
                self.config.model, device=self.config.device, dtype=self.config.dtype
            )
            speed = self.config.speed
            if speed is not None and speed != SpeedOptions():
                if self.is_avatar:
                    log.warning("--offload/--quantize/--compile/--attention apply to video models only")
                else:
                    apply_speed(self.pipe, speed)
        except Exception as e:  # the server stays up to report why; queued jobs wait for a fixed restart
            log.exception("could not load the model %s", self.config.model or "(demo)")
            self.load_error = f"{type(e).__name__}: {e}"
            self.status = "error"
            return False
        self.status = "ready"
        self.ready.set()
        log.info("model %s loaded in %.1f s", self.pipe.identity.get("name", "?"), time.perf_counter() - t0)
        return True

    def _run(self, job: Job) -> None:
        self.current = job.id
        log.info("job %s started (attempt %d): %s", job.id, job.attempts, job.options.get("prompt", "")[:80])
        t0 = time.perf_counter()
        try:
            self._generate(job)
        except CancelledError:
            if self._stopping.is_set() and not self.store.cancel_requested(job.id):
                log.info("job %s interrupted by shutdown; re-queued", job.id)
                self.store.requeue(job.id)
            else:
                step = self.store.get(job.id).step
                self.store.finish(job.id, "cancelled", f"cancelled by request after step {step}")
                log.info("job %s cancelled", job.id)
        except VitascopeError as e:
            self.store.finish(job.id, "failed", str(e))
            log.warning("job %s failed: %s", job.id, e)
        except Exception as e:  # one bad job must not take the worker down with it
            log.exception("job %s crashed", job.id)
            self.store.finish(
                job.id, "failed", f"internal error ({type(e).__name__}: {e}); see the server log"
            )
        else:
            self.store.finish(job.id, "succeeded")
            log.info("job %s succeeded in %.1f s", job.id, time.perf_counter() - t0)
        finally:
            self.current = None
            self._cancelled.discard(job.id)

    def _generate(self, job: Job) -> None:
        from vitascope.pipelines.options import GenerationOptions

        fields = dict(job.options)
        image = self.take_image(job.id)
        stored = fields.pop("image", None)
        if image is None and stored is not None:  # after a restart; relative, so the folder can move
            image = str(self.config.data / stored)
        progress = self._progress_writer(job.id)
        should_stop = lambda: self._stopping.is_set() or job.id in self._cancelled  # noqa: E731
        meta = {"prompt_rewrite": fields.pop("prompt_rewrite")} if "prompt_rewrite" in fields else {}
        if job.task == "avatar":
            self._generate_avatar(job, fields, image, progress, should_stop)
            return
        extra = {"motion": fields.pop("motion")} if fields.get("motion") else {}
        for kind in ("pose_json", "pose_video"):  # an uploaded motion source, stored under the data folder
            if fields.get(kind):
                extra[kind] = str(self.config.data / fields.pop(kind))
        from vitascope.serve.loras import job_loras

        files = [(self.loras.path(r["name"]), float(r.get("weight", 1.0))) for r in fields.pop("loras", [])]
        # This thread is the only one that touches the model: the adapters exist for this job alone.
        with job_loras(self.pipe.dit, files) as applied:
            if applied:
                meta["loras"] = applied
            self.pipe.generate(  # the decode streams into the mp4: memory does not grow with the frames
                GenerationOptions(image=image, extra=extra, **fields),
                limits=self.config.limits,
                progress=progress,
                should_stop=should_stop,
                output=self.config.video_path(job.id),
                metadata=meta or None,
            )

    def _generate_avatar(self, job: Job, fields: dict, image, progress, should_stop) -> None:
        """An avatar job: AvatarOptions from the stored fields and files, the CLI's writer (save_avatar)."""
        from vitascope.errors import InvalidOptionError
        from vitascope.pipelines.avatar_output import save_avatar
        from vitascope.serve.schemas import avatar_options

        if not self.is_avatar:
            raise InvalidOptionError(
                "this job is an avatar job, but the served model is not the Avatar model"
            )
        audio = fields.pop("audio")
        audio = (
            [str(self.config.data / a) for a in audio]
            if isinstance(audio, list)
            else str(self.config.data / audio)
        )
        emotion = fields.pop("emotion_image", None)
        emotion = str(self.config.data / emotion) if emotion else None
        opts = avatar_options(fields, image, audio, self.config.max_audio_seconds, emotion)
        result = self.pipe.generate(opts, progress=progress, should_stop=should_stop)
        save_avatar(self.pipe, result, self.config.video_path(job.id))

    def _progress_writer(self, job_id: str):
        last = 0.0

        def progress(step: int, total: int) -> None:
            nonlocal last
            now = time.monotonic()
            if step <= 1 or step >= total or now - last >= PROGRESS_EVERY_S:
                last = now
                self.store.progress(job_id, step, total)

        return progress
