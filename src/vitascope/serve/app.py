"""Assemble the server: job store, worker, API, web UI and the guards around them.

`python3 -m vitascope.serve.app --data DIR ...` runs the same command as `vitascope serve`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from vitascope.errors import VitascopeError
from vitascope.serve.config import ServeConfig

log = logging.getLogger(__name__)


def create_app(config: ServeConfig):
    """Build the ASGI app. The store is opened and recovered here; the worker starts with the app."""
    from fastapi import FastAPI
    from fastapi.responses import RedirectResponse

    from vitascope.serve.api import install_error_handlers, make_router
    from vitascope.serve.security import BodyLimit, TokenAuth
    from vitascope.serve.service import JobService
    from vitascope.serve.store import JobStore
    from vitascope.serve.worker import Worker

    config.make_dirs()
    lock = _lock_data(config.data)
    store = JobStore(config.db_path)
    store.recover(config.max_attempts, lambda job_id: config.video_path(job_id).exists())
    if len(config.devices) > 1:
        from vitascope.serve.pool import WorkerPool

        worker = WorkerPool(config, store, list(config.devices))
    else:
        worker = Worker(config, store)
    service = JobService(config, store, worker)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        worker.start()
        log.info("serving on http://%s:%d (data in %s)", config.host, config.port, config.data)
        yield
        log.info("stopping: the running job (if any) goes back to the queue")
        worker.stop()
        store.close()

    app = FastAPI(
        title="Vitascope",
        summary="Queue text-to-video and image-to-video jobs on one model.",
        version="1",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.data_lock = lock  # held (open) for the life of the process
    install_error_handlers(app)
    app.include_router(make_router(service))

    @app.get("/", include_in_schema=False)
    def root():
        return RedirectResponse("/ui/" if config.ui else "/docs")

    if config.ui:
        from vitascope.serve.webui import mount

        mount(app, service)
    # Added last = outermost: the token is checked before anything else reads the request.
    app.add_middleware(BodyLimit, max_bytes=config.max_upload_bytes + 256 * 1024)
    if config.token:
        app.add_middleware(TokenAuth, token=config.token)
    return app


def _lock_data(data: Path):
    """One server per data folder: a second one would re-queue the first one's running job as 'interrupted'.

    flock is released by the kernel when the process dies, SIGKILL included, so a crash never leaves a stale lock.
    """
    import fcntl

    handle = open(data / "server.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        handle.close()
        raise VitascopeError(
            f"another `vitascope serve` (pid {owner}) is using {data}; stop it or pass a different --data"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


if __name__ == "__main__":
    import typer

    from vitascope.serve.command import serve

    typer.run(serve)
