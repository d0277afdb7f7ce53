"""The HTTP API: `/v1/jobs` to submit, follow, cancel and download; `/v1/health` for the model's state.

Every refusal is a 4xx whose `detail` says what to change. Handlers that touch SQLite are plain `def`s, so
FastAPI runs them in its thread pool and the event loop never waits on a disk sync.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from vitascope.errors import InputFileError, InvalidOptionError
from vitascope.pipelines.avatar_inputs import MAX_SPEAKERS
from vitascope.serve.schemas import Health, JobCreated, JobList, JobOut, JobRequest
from vitascope.serve.security import BodyTooLargeError
from vitascope.serve.service import JobService, ModelUnavailableError, UploadTooLargeError
from vitascope.serve.store import STATES, JobStateError, QueueFullError

_NOT_FOUND = "no job with id {id!r}; GET /v1/jobs lists the jobs this server knows"

_MULTIPART_DOC = {
    "requestBody": {
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/JobRequest"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "description": "The JobRequest fields as form fields, plus the image file (task i2v) or the "
                    "photo `image`, the voice `audio` (task avatar; repeat the field for several faces, matched "
                    "left to right or to face_box in order) and optionally `emotion_image`.",
                    "properties": {
                        "image": {"type": "string", "format": "binary"},
                        "audio": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "emotion_image": {"type": "string", "format": "binary"},
                        "prompt": {"type": "string"},
                    },
                }
            },
        },
        "required": True,
    }
}


def _error(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _pydantic_message(e: ValidationError | RequestValidationError) -> str:
    parts = []
    for err in e.errors():
        where = (
            ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path")) or "request"
        )
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = f"unknown field; the fields are {', '.join(JobRequest.model_fields)}"
        parts.append(f"{where}: {msg}")
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    async def options(_, e):
        return _error(422, str(e))

    async def too_large(_, e):
        return _error(413, str(e))

    async def full(_, e):
        return _error(429, str(e), {"Retry-After": "10"})

    async def conflict(_, e):
        return _error(409, str(e))

    async def unavailable(_, e):
        return _error(503, str(e))

    async def invalid(_, e):
        return _error(422, _pydantic_message(e))

    app.add_exception_handler(UploadTooLargeError, too_large)
    app.add_exception_handler(BodyTooLargeError, too_large)
    app.add_exception_handler(InvalidOptionError, options)
    app.add_exception_handler(InputFileError, options)
    app.add_exception_handler(QueueFullError, full)
    app.add_exception_handler(JobStateError, conflict)
    app.add_exception_handler(ModelUnavailableError, unavailable)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(ValidationError, invalid)


def make_router(service: JobService) -> APIRouter:
    router = APIRouter(prefix="/v1")
    store, config = service.store, service.config

    def job_out(job) -> JobOut:
        return JobOut.of(job, service.queue_position(job))

    @router.get("/health", response_model=Health, summary="Model and queue state")
    def health():
        w = service.worker
        pipe = w.pipe
        return Health(
            status=w.status,
            error=w.load_error,
            model=None if pipe is None else dict(pipe.identity),
            tasks=list(w.tasks),
            defaults=None if w.defaults is None else dataclasses.asdict(w.defaults),
            limits=dataclasses.asdict(config.limits) | {"max_queue": config.max_queue},
            queue=store.counts(),
        )

    @router.post("/jobs", status_code=201, response_model=JobCreated, openapi_extra=_MULTIPART_DOC,
                 summary="Submit a generation job (JSON, or multipart with an image)")  # fmt: skip
    async def submit(request: Request):
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        image = audio = emotion = None
        if kind == "application/json":
            try:
                fields = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                return _error(400, f"the body is not valid JSON ({e})")
        elif kind == "multipart/form-data":
            form = await request.form(max_files=2 + MAX_SPEAKERS, max_fields=32)
            names = ("image", "audio", "emotion_image")
            fields = {k: v for k, v in form.items() if k not in names and v != ""}
            files = {}
            for name in names:
                uploads = form.getlist(name)
                if len(uploads) > (MAX_SPEAKERS if name == "audio" else 1):
                    return _error(422, f"too many {name!r} files ({len(uploads)})")
                if any(isinstance(u, str) for u in uploads):
                    return _error(422, f"field {name!r} must be a file upload, not text")
                files[name] = [await u.read(config.max_upload_bytes + 1) for u in uploads]
            image = files["image"][0] if files["image"] else None
            emotion = files["emotion_image"][0] if files["emotion_image"] else None
            audio = files["audio"] if len(files["audio"]) > 1 else (files["audio"] or [None])[0]
        else:
            return _error(
                415, "send the job as application/json, or as multipart/form-data when uploading an image"
            )
        if not isinstance(fields, dict):
            return _error(422, "the JSON body must be an object with at least a 'prompt' field")
        req = JobRequest.model_validate(fields)
        job = await run_in_threadpool(service.submit, req, image, audio, emotion)
        return JobCreated(id=job.id, state=job.state, url=f"/v1/jobs/{job.id}")

    @router.get("/jobs", response_model=JobList, summary="List jobs, oldest first")
    def list_jobs(
        state: str | None = Query(None, description=f"One of {', '.join(STATES)}."),
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0),
        newest_first: bool = False,
    ):
        if state is not None and state not in STATES:
            return _error(422, f"state must be one of {', '.join(STATES)}, got {state!r}")
        jobs = store.list(state=state, limit=limit, offset=offset, newest_first=newest_first)
        return JobList(jobs=[job_out(j) for j in jobs], counts=store.counts())

    @router.get("/jobs/{job_id}", response_model=JobOut, summary="One job's state and progress")
    def get_job(job_id: str):
        try:
            return job_out(service.get(job_id))
        except KeyError:
            return _error(404, _NOT_FOUND.format(id=job_id))

    @router.delete(
        "/jobs/{job_id}", response_model=JobOut, summary="Cancel (a running job stops at its next step)"
    )
    def cancel_job(job_id: str):
        try:
            return job_out(service.cancel(job_id))
        except KeyError:
            return _error(404, _NOT_FOUND.format(id=job_id))

    @router.get("/jobs/{job_id}/video", summary="The finished mp4", response_class=FileResponse,
                responses={200: {"content": {"video/mp4": {}}}})  # fmt: skip
    def get_video(job_id: str):
        try:
            job = service.get(job_id)
        except KeyError:
            return _error(404, _NOT_FOUND.format(id=job_id))
        if job.state != "succeeded":
            why = f": {job.error}" if job.error else ""
            return _error(
                409, f"job {job_id} is {job.state}{why}; the video exists once its state is succeeded"
            )
        return FileResponse(service.video(job_id), media_type="video/mp4", filename=f"{job_id}.mp4")

    @router.get("/jobs/{job_id}/events", summary="Server-sent events: the job on each change, until it ends",
                response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})  # fmt: skip
    async def events(job_id: str, request: Request):
        try:
            await run_in_threadpool(service.get, job_id)
        except KeyError:
            return _error(404, _NOT_FOUND.format(id=job_id))
        return StreamingResponse(
            _event_stream(service, job_id, request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


async def _event_stream(service: JobService, job_id: str, request: Request, poll: float = 0.2):
    """Emit `event: job` on every change of state or step, then `event: end` with the final job."""
    last, quiet_since = None, time.monotonic()
    while not await request.is_disconnected():
        job = await run_in_threadpool(service.get, job_id)
        snap = (job.state, job.step, job.total, job.cancel_requested)
        if snap != last:
            last, quiet_since = snap, time.monotonic()
            data = JobOut.of(job, service.queue_position(job)).model_dump_json()
            yield f"event: {'end' if job.done else 'job'}\ndata: {data}\n\n"
            if job.done:
                return
        elif time.monotonic() - quiet_since > 15:  # a comment keeps proxies from closing an idle stream
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(poll)
