"""The persistent job store: one SQLite file, written on every state change.

SQLite runs in WAL mode with synchronous=FULL, so a job that was acknowledged to a client is on disk before
the answer leaves, and a SIGKILL at any moment leaves the file consistent. The queue order is the insertion
order (`seq`), and "the queue is full" is decided inside the same transaction as the insert, so concurrent
submitters can never overshoot the bound.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vitascope.errors import VitascopeError

log = logging.getLogger(__name__)

STATES = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL = ("succeeded", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    state TEXT NOT NULL,
    task TEXT NOT NULL,
    options TEXT NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, seq);
"""


class QueueFullError(VitascopeError):
    """The bounded queue holds its maximum number of waiting jobs."""


class JobStateError(VitascopeError):
    """The job is not in a state that allows the request (e.g. cancelling a finished job)."""


@dataclass(frozen=True)
class Job:
    id: str
    seq: int
    state: str
    task: str
    options: dict
    step: int
    total: int
    error: str | None
    attempts: int
    cancel_requested: bool
    created_at: float
    started_at: float | None
    finished_at: float | None

    @property
    def done(self) -> bool:
        return self.state in TERMINAL


class JobStore:
    """Thread-safe access to the jobs table (one connection, one lock: the writes are tiny)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writes ---------------------------------------------------------------------------------------

    def submit(self, job_id: str, task: str, options: dict, max_queue: int) -> Job:
        """Insert a queued job, or raise QueueFullError when `max_queue` jobs are already waiting."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (waiting,) = self._db.execute("SELECT COUNT(*) FROM jobs WHERE state='queued'").fetchone()
                if waiting >= max_queue:
                    raise QueueFullError(
                        f"the queue is full ({waiting} jobs waiting, limit {max_queue}); retry in a while"
                    )
                self._db.execute(
                    "INSERT INTO jobs (id, state, task, options, created_at) VALUES (?, 'queued', ?, ?, ?)",
                    (job_id, task, json.dumps(options), time.time()),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return self.get(job_id)

    def claim_next(self) -> Job | None:
        """Move the oldest queued job to running and return it (None when the queue is empty)."""
        with self._lock:
            row = self._db.execute(
                "UPDATE jobs SET state='running', started_at=?, attempts=attempts+1, step=0, error=NULL "
                "WHERE seq=(SELECT MIN(seq) FROM jobs WHERE state='queued') RETURNING id",
                (time.time(),),
            ).fetchone()
        return None if row is None else self.get(row["id"])

    def progress(self, job_id: str, step: int, total: int) -> None:
        self._exec("UPDATE jobs SET step=?, total=? WHERE id=? AND state='running'", (step, total, job_id))

    def finish(self, job_id: str, state: str, error: str | None = None) -> None:
        """Move a running job to a terminal state."""
        if state not in TERMINAL:
            raise ValueError(f"finish() needs a terminal state, got {state!r}")
        self._exec(
            "UPDATE jobs SET state=?, error=?, finished_at=? WHERE id=? AND state='running'",
            (state, error, time.time(), job_id),
        )

    def requeue(self, job_id: str) -> None:
        """Put an interrupted running job back at its place in the queue (its seq keeps it first)."""
        self._exec("UPDATE jobs SET state='queued', step=0 WHERE id=? AND state='running'", (job_id,))

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job now, or flag a running one so the worker stops it at its next step."""
        with self._lock:
            row = self._db.execute("SELECT state FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(job_id)
            if row["state"] == "queued":
                self._db.execute(
                    "UPDATE jobs SET state='cancelled', cancel_requested=1, finished_at=?, "
                    "error='cancelled before it started' WHERE id=?",
                    (time.time(), job_id),
                )
            elif row["state"] == "running":
                self._db.execute("UPDATE jobs SET cancel_requested=1 WHERE id=?", (job_id,))
            else:
                raise JobStateError(f"job {job_id} has already {row['state']}; there is nothing to cancel")
        return self.get(job_id)

    def recover(self, max_attempts: int, video_exists) -> dict:
        """After a restart: settle jobs left `running` by the previous process.

        A job whose video is already on disk finished before the crash and is marked succeeded; a job
        cancelled while running is marked cancelled; one interrupted `max_attempts` times is failed with
        that reason (it probably crashes the server); the rest go back to the queue in their old order.
        """
        counts = {"requeued": 0, "succeeded": 0, "failed": 0, "cancelled": 0}
        for job in self.list(state="running", limit=None):
            if video_exists(job.id):
                self.finish(job.id, "succeeded")
                counts["succeeded"] += 1
            elif job.cancel_requested:
                self.finish(job.id, "cancelled", "cancelled while the server was stopping")
                counts["cancelled"] += 1
            elif job.attempts >= max_attempts:
                self.finish(
                    job.id,
                    "failed",
                    f"the server stopped during this job {job.attempts} times; giving up "
                    "(check the server log for a crash, or resubmit with a smaller size)",
                )
                counts["failed"] += 1
            else:
                self.requeue(job.id)
                counts["requeued"] += 1
        if any(counts.values()):
            log.info("recovered jobs from the last run: %s", counts)
        return counts

    # -- reads ----------------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        return _job(row)

    def list(
        self, state: str | None = None, limit: int | None = 100, offset: int = 0, newest_first=False
    ) -> list[Job]:
        sql, args = "SELECT * FROM jobs", []
        if state is not None:
            sql += " WHERE state=?"
            args.append(state)
        sql += " ORDER BY seq DESC" if newest_first else " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [int(limit), int(offset)]
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_job(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").fetchall()
        out = dict.fromkeys(STATES, 0)
        out.update({r["state"]: r["n"] for r in rows})
        return out

    def queue_position(self, job: Job) -> int | None:
        """1 for the next job to run; None when the job is not waiting."""
        if job.state != "queued":
            return None
        with self._lock:
            (n,) = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE state='queued' AND seq<=?", (job.seq,)
            ).fetchone()
        return n

    def cancel_requested(self, job_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT cancel_requested FROM jobs WHERE id=?", (job_id,)).fetchone()
        return bool(row and row["cancel_requested"])

    def _exec(self, sql: str, args: tuple) -> None:
        with self._lock:
            self._db.execute(sql, args)


def _job(row: sqlite3.Row) -> Job:
    d = dict(row)
    d["options"] = json.loads(d["options"])
    d["cancel_requested"] = bool(d["cancel_requested"])
    return Job(**d)
