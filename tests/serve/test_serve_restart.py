"""Kill the server mid-job, start it again on the same data folder: nothing is lost."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from serve_helpers import Server, start, submit, wait_job  # noqa: E402

MEDIUM = dict(steps=400, height=64, width=64, frames=5)  # a few seconds (one native clip: no windows)


def test_sigkill_mid_job_then_restart_finishes_everything(tmp_path):
    data = tmp_path / "data"
    first = start(data, "--no-ui", "--max-steps", "1000")
    try:
        with first.client() as c:
            done = wait_job(c, submit(c, prompt="finished before the crash", seed=1))
            assert done["state"] == "succeeded"
            video_before = c.get(done["video_url"]).content
            twin = Server(data, "--no-ui")  # a second server on one folder would "recover" the first's jobs
            assert twin.proc.wait(120) != 0
            twin.stop()
            assert f"another `vitascope serve` (pid {first.proc.pid}) is using" in twin.log.read_text()
            running = submit(c, prompt="interrupted", **MEDIUM)
            queued = [submit(c, prompt=f"waiting {i}", seed=i) for i in range(3)]
            cancelled = submit(c, prompt="cancelled before the crash")
            c.delete(f"/v1/jobs/{cancelled}")
            job = wait_job(c, running, until=("running",), pred=lambda j: j["progress"]["step"] >= 3)
            assert job["attempts"] == 1
    finally:
        first.kill()  # SIGKILL mid-generation: no shutdown code runs

    assert not (data / "outputs" / f"{running}.mp4").exists()
    second = start(data, "--no-ui", "--max-steps", "1000")
    try:
        with second.client() as c:
            listed = {j["id"]: j for j in c.get("/v1/jobs").json()["jobs"]}
            assert set(listed) == {done["id"], running, cancelled, *queued}  # every job survived
            assert listed[done["id"]]["state"] == "succeeded"
            assert listed[cancelled]["state"] == "cancelled"
            assert c.get(done["video_url"]).content == video_before  # the finished video is intact

            job = wait_job(c, running, timeout=120)
            assert job["state"] == "succeeded", job["error"]
            assert job["attempts"] == 2  # it was re-queued and run again
            assert job["progress"] == {"step": MEDIUM["steps"], "total": MEDIUM["steps"]}
            finished = [wait_job(c, q, timeout=60) for q in queued]
            assert [j["state"] for j in finished] == ["succeeded"] * 3
            # the interrupted job kept its place at the head of the queue
            assert job["started_at"] < min(j["started_at"] for j in finished)
            for j in [job, *finished]:
                assert c.get(j["video_url"]).status_code == 200
    finally:
        second.stop()


def test_sigterm_requeues_the_running_job_and_a_job_that_keeps_crashing_is_failed(tmp_path):
    data = tmp_path / "data"
    first = start(data, "--no-ui", "--max-steps", "1000")
    try:
        with first.client() as c:
            running = submit(c, prompt="stopped politely", **MEDIUM)
            wait_job(c, running, until=("running",), pred=lambda j: j["progress"]["step"] >= 2)
    finally:
        first.stop()  # graceful: the worker stops at the next step and re-queues the job
    log = first.log.read_text()
    assert (
        "Application shutdown complete" in log and f"job {running} interrupted by shutdown; re-queued" in log
    )

    with sqlite3.connect(data / "jobs.sqlite") as db:
        assert db.execute("SELECT state FROM jobs WHERE id=?", (running,)).fetchone() == ("queued",)
        # pretend this job already took the server down twice before (attempts counts the starts)
        db.execute("UPDATE jobs SET state='running', attempts=3 WHERE id=?", (running,))

    second = start(data, "--no-ui", "--max-steps", "1000")
    try:
        with second.client() as c:
            job = c.get(f"/v1/jobs/{running}").json()
            assert job["state"] == "failed"
            assert "server stopped during this job 3 times" in job["error"]
            r = c.get(f"/v1/jobs/{running}/video")
            assert r.status_code == 409 and "failed" in r.json()["detail"]
    finally:
        second.stop()
