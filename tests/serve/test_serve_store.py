"""The SQLite job store, the upload checks and the config, on real files (no server needed)."""

from __future__ import annotations

import io
import threading
import uuid

import pytest
from PIL import Image

from vitascope.errors import InputFileError, InvalidOptionError
from vitascope.serve.config import ServeConfig, check_job_id
from vitascope.serve.service import UploadTooLargeError, check_image
from vitascope.serve.store import JobStateError, JobStore, QueueFullError


def _id() -> str:
    return uuid.uuid4().hex


def _add(store, n=1, max_queue=100):
    return [store.submit(_id(), "t2v", {"prompt": f"p{i}", "task": "t2v"}, max_queue).id for i in range(n)]


def test_fifo_claim_progress_finish(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    a, b, c = _add(store, 3)
    assert [j.id for j in store.list()] == [a, b, c]
    assert [store.queue_position(store.get(x)) for x in (a, b, c)] == [1, 2, 3]
    job = store.claim_next()
    assert job.id == a and job.state == "running" and job.attempts == 1
    store.progress(a, 3, 10)
    assert (store.get(a).step, store.get(a).total) == (3, 10)
    store.finish(a, "succeeded")
    assert store.get(a).state == "succeeded" and store.get(a).finished_at >= store.get(a).started_at
    assert store.claim_next().id == b
    assert store.counts() == {"queued": 1, "running": 1, "succeeded": 1, "failed": 0, "cancelled": 0}
    with pytest.raises(KeyError):
        store.get(_id())


def test_jobs_survive_reopening_the_file(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    ids = _add(store, 2)
    store.claim_next()
    store.finish(ids[0], "failed", "it broke")
    store.close()
    again = JobStore(tmp_path / "jobs.sqlite")
    assert [(j.id, j.state, j.error) for j in again.list()] == [
        (ids[0], "failed", "it broke"),
        (ids[1], "queued", None),
    ]
    assert again.get(ids[1]).options == {"prompt": "p1", "task": "t2v"}


def test_cancel_queued_now_running_at_next_step_finished_never(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    a, b = _add(store, 2)
    store.claim_next()
    assert store.cancel(b).state == "cancelled"
    assert store.claim_next() is None  # a cancelled job never runs
    flagged = store.cancel(a)
    assert flagged.state == "running" and flagged.cancel_requested and store.cancel_requested(a)
    store.finish(a, "cancelled", "stopped")
    with pytest.raises(JobStateError, match="nothing to cancel"):
        store.cancel(a)
    with pytest.raises(KeyError):
        store.cancel(_id())


def test_the_queue_bound_holds_under_concurrent_submitters(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    accepted, refused = [], []

    def submitter():
        for _ in range(10):
            try:
                accepted.append(_add(store, 1, max_queue=25)[0])
            except QueueFullError as e:
                refused.append(str(e))

    threads = [threading.Thread(target=submitter) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(accepted) == 25 and len(refused) == 35
    assert store.counts()["queued"] == 25
    assert "queue is full" in refused[0] and "limit 25" in refused[0]
    store.claim_next()  # a running job frees a place in the queue
    _add(store, 1, max_queue=25)


def test_recover_after_a_crash(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    ids = _add(store, 5)
    for _ in range(4):
        store.claim_next()
    done_on_disk, cancelled, too_many, plain, waiting = ids
    store.cancel(cancelled)
    with store._lock:  # a job that already brought the server down twice before this run
        store._db.execute("UPDATE jobs SET attempts=3 WHERE id=?", (too_many,))
    counts = store.recover(max_attempts=3, video_exists=lambda i: i == done_on_disk)
    assert counts == {"requeued": 1, "succeeded": 1, "failed": 1, "cancelled": 1}
    assert store.get(done_on_disk).state == "succeeded"
    assert store.get(cancelled).state == "cancelled"
    failed = store.get(too_many)
    assert failed.state == "failed" and "3 times" in failed.error
    assert store.get(plain).state == "queued"
    assert store.claim_next().id == plain  # back at its old place, ahead of the job queued after it
    assert store.get(waiting).state == "queued"


def _encoded(fmt, size=(40, 30), mode="RGB"):
    buf = io.BytesIO()
    Image.new(mode, size, 128).save(buf, format=fmt)
    return buf.getvalue()


def test_image_checks(tmp_path):
    cfg = ServeConfig(data=tmp_path, max_upload_bytes=64 * 1024, max_image_pixels=200 * 200)
    for fmt in ("PNG", "JPEG", "WEBP"):
        picture = check_image(_encoded(fmt), cfg)
        assert picture.mode == "RGB" and picture.size == (40, 30)
    assert check_image(_encoded("PNG", mode="RGBA"), cfg).mode == "RGB"
    with pytest.raises(InputFileError, match="not an image"):
        check_image(b"GIF89a but not really", cfg)
    with pytest.raises(InputFileError, match="not an image"):
        check_image(b"<?php echo 1; ?>", cfg)
    with pytest.raises(InputFileError, match="GIF is not accepted"):
        check_image(_encoded("GIF", mode="P"), cfg)
    with pytest.raises(InputFileError, match="damaged or truncated"):
        check_image(_encoded("PNG", size=(120, 120))[:200], cfg)
    with pytest.raises(InputFileError, match="downscale"):
        check_image(_encoded("PNG", size=(300, 300)), cfg)
    with pytest.raises(UploadTooLargeError, match="at most 65536"):
        check_image(b"\x89PNG" + b"\0" * 70000, cfg)
    with pytest.raises(InputFileError, match="empty"):
        check_image(b"", cfg)


def test_config_paths_and_validation(tmp_path):
    cfg = ServeConfig(data=tmp_path)
    job = _id()
    assert cfg.video_path(job) == tmp_path / "outputs" / f"{job}.mp4"
    assert cfg.db_path == tmp_path / "jobs.sqlite"
    assert ServeConfig(data=tmp_path, store_path=tmp_path / "x" / "q.db").db_path == tmp_path / "x" / "q.db"
    for bad in ("../../etc/passwd", "0123456789ABCDEF0123456789ABCDEF", job + "/", "", job[:-1] + "g"):
        with pytest.raises(KeyError):
            check_job_id(bad)
        with pytest.raises(KeyError):
            cfg.video_path(bad)
    with pytest.raises(InvalidOptionError, match="at least 8"):
        ServeConfig(data=tmp_path, token="short")
    with pytest.raises(InvalidOptionError, match="max_queue"):
        ServeConfig(data=tmp_path, max_queue=0)
    with pytest.raises(InvalidOptionError, match="dtype"):
        ServeConfig(data=tmp_path, dtype="int8")
