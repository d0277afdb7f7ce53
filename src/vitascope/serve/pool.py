"""Several workers over one job store: `vitascope serve --devices cuda:0,cuda:1` (or `cpu,cpu`).

Each worker is the ordinary `Worker` (its own thread, its own copy of the pipeline on its device); they all
claim jobs from the same SQLite store, whose `claim_next` is one locked transaction, so a job runs once. The
workers load one after the other (importing transformers from two threads at once is not safe), and the pool
answers the API as one worker does: ready once every worker has finished loading and at least one succeeded,
in error when all failed; wake and cancel go to every worker. Past one host, run one server per host behind a load
balancer with a shared job service, or an existing engine (Ray Serve, Triton) rather than growing this one.
"""

from __future__ import annotations

import dataclasses
import threading

from vitascope.serve.config import ServeConfig
from vitascope.serve.store import JobStore
from vitascope.serve.worker import Worker


class WorkerPool:
    def __init__(self, config: ServeConfig, store: JobStore, devices: list[str]):
        self.workers = [Worker(dataclasses.replace(config, device=d), store) for d in devices]
        for i, w in enumerate(self.workers):
            w._thread.name = f"vitascope-worker-{i}-{devices[i]}"
        self.ready = threading.Event()
        self._starter = threading.Thread(target=self._start_in_turn, name="vitascope-pool-start", daemon=True)

    def _start_in_turn(self) -> None:
        for w in self.workers:
            if w._stopping.is_set():
                return
            w.start()
            while w.status == "loading" and not w._stopping.is_set():
                w.ready.wait(0.1)
        if any(w.status == "ready" for w in self.workers):
            self.ready.set()

    def _first_ready(self) -> Worker:
        return next((w for w in self.workers if w.status == "ready"), self.workers[0])

    @property
    def status(self) -> str:
        states = {w.status for w in self.workers}
        if "loading" in states:
            return "loading"
        return "ready" if "ready" in states else "error"

    @property
    def load_error(self) -> str | None:
        return "; ".join(f"{w.config.device}: {w.load_error}" for w in self.workers if w.load_error) or None

    @property
    def pipe(self):
        return self._first_ready().pipe

    @property
    def defaults(self):
        return self._first_ready().defaults

    @property
    def tasks(self) -> tuple[str, ...]:
        return self._first_ready().tasks

    @property
    def current(self) -> list[str]:
        return [w.current for w in self.workers if w.current]

    def start(self) -> None:
        self._starter.start()

    def wake(self) -> None:
        for w in self.workers:
            w.wake()

    def cancel(self, job_id: str) -> None:
        for w in self.workers:
            w.cancel(job_id)

    def stop(self, timeout: float = 60.0) -> None:
        for w in self.workers:
            w._stopping.set()
            w._wake.set()
        for w in self.workers:
            if w._thread.is_alive():
                w.stop(timeout)


__all__ = ["WorkerPool"]
