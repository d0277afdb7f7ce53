"""The HTTP API against a real `vitascope serve` subprocess running a tiny random model (no mocks)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from serve_helpers import TOKEN, Server, png_bytes, start, submit, wait_job  # noqa: E402

SLOW = dict(steps=1000, height=64, width=64, frames=9)  # ~10 s on one core: long enough to act on mid-run
MAX_QUEUE = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("serve-api")
    srv = start(
        data, "--no-ui", "--max-steps", "1000", "--max-queue", str(MAX_QUEUE), "--max-upload-mb", "0.5"
    )
    yield srv
    srv.stop()


@pytest.fixture()
def client(server):
    with server.client() as c:
        yield c
        # leave no job behind for the next test: cancel whatever is still waiting or running
        for state in ("queued", "running"):
            for job in c.get("/v1/jobs", params={"state": state, "limit": 1000}).json()["jobs"]:
                c.delete(f"/v1/jobs/{job['id']}")
        deadline = time.monotonic() + 30
        while sum(c.get("/v1/health").json()["queue"][s] for s in ("queued", "running")):
            assert time.monotonic() < deadline, "jobs still running 30 s after being cancelled"
            time.sleep(0.05)


def test_health_reports_the_served_model(client):
    health = client.get("/v1/health").json()
    assert health["status"] == "ready"
    assert health["model"]["name"] == "vitascope-tiny"
    assert set(health["tasks"]) >= {"t2v", "i2v"}
    assert health["defaults"]["height"] % 16 == 0
    assert health["limits"]["max_queue"] == MAX_QUEUE
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/video", "/v1/jobs/{job_id}/events"} <= set(
        paths
    )
    assert set(paths["/v1/jobs/{job_id}"]) == {"get", "delete"}


def test_text_to_video_job_produces_a_playable_mp4(client, server, tmp_path):
    from vitascope.media import read_video

    job_id = submit(client, prompt="a red ball", height=32, width=48, frames=5, steps=2, seed=3)
    job = wait_job(client, job_id)
    assert job["state"] == "succeeded", job["error"]
    assert job["progress"] == {"step": 2, "total": 2}
    assert job["video_url"] == f"/v1/jobs/{job_id}/video"
    r = client.get(job["video_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    (tmp_path / "v.mp4").write_bytes(r.content)
    frames, _ = read_video(tmp_path / "v.mp4")
    assert frames.shape == (5, 32, 48, 3)
    assert (server.data / "outputs" / f"{job_id}.mp4").read_bytes() == r.content
    listed = client.get("/v1/jobs").json()
    assert job_id in [j["id"] for j in listed["jobs"]]
    assert listed["counts"]["succeeded"] >= 1


def test_same_seed_same_video(client):
    a = wait_job(client, submit(client, prompt="a cat", seed=7, frames=5, steps=2))
    b = wait_job(client, submit(client, prompt="a cat", seed=7, frames=5, steps=2))
    c = wait_job(client, submit(client, prompt="a cat", seed=8, frames=5, steps=2))
    va, vb, vc = (client.get(j["video_url"]).content for j in (a, b, c))
    assert va == vb and va != vc


def test_image_to_video_with_multipart_upload(client):
    files = {"image": ("../../escape.png", png_bytes(40, 24), "image/png")}
    r = client.post(
        "/v1/jobs",
        data={
            "task": "i2v",
            "prompt": "it moves",
            "steps": "2",
            "frames": "5",
            "height": "32",
            "width": "48",
        },
        files=files,
    )
    assert r.status_code == 201, r.text
    job = wait_job(client, r.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    assert job["task"] == "i2v"
    assert job["options"]["image"] == f"uploads/{job['id']}.png"  # the client's file name is never used


def test_server_sent_events_follow_a_job_to_its_end(client):
    job_id = submit(client, prompt="events", steps=12, frames=5)
    events = []
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                import json

                events.append((name, json.loads(line[6:])))
    assert events[-1][0] == "end" and events[-1][1]["state"] == "succeeded"
    assert all(name == "job" for name, _ in events[:-1])
    steps = [e["progress"]["step"] for _, e in events]
    assert steps == sorted(steps) and steps[-1] == 12


def test_cancel_running_and_queued_jobs(client):
    running = submit(client, prompt="long", **SLOW)
    queued = submit(client, prompt="waiting", steps=2)
    wait_job(client, running, until=("running",), pred=lambda j: j["progress"]["step"] >= 2)
    assert client.get(f"/v1/jobs/{queued}").json()["queue_position"] == 1

    r = client.delete(f"/v1/jobs/{queued}")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    r = client.delete(f"/v1/jobs/{running}")
    assert r.status_code == 200 and r.json()["cancel_requested"]
    job = wait_job(client, running, timeout=20)
    assert job["state"] == "cancelled"
    assert job["progress"]["step"] < SLOW["steps"]  # it stopped at a step, it did not run to the end
    assert "cancelled" in job["error"]
    r = client.get(f"/v1/jobs/{running}/video")
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]
    r = client.delete(f"/v1/jobs/{running}")
    assert r.status_code == 409 and "nothing to cancel" in r.json()["detail"]


def test_fifty_concurrent_submissions_are_all_accounted_for(client, server):
    blocker = submit(client, prompt="hold the worker", **SLOW)
    wait_job(client, blocker, until=("running",))

    def one(i):
        with server.client() as c:  # a client per submitter, like separate users
            t0 = time.perf_counter()
            r = c.post("/v1/jobs", json={"prompt": f"job {i}", "steps": 1, "frames": 1, "seed": i})
            return i, r.status_code, r.json(), time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(50)))
    assert [code for _, code, _, _ in results] == [201] * 50, [b for _, c, b, _ in results if c != 201]
    ids = [body["id"] for _, _, body, _ in results]
    assert len(set(ids)) == 50
    positions = sorted(client.get(f"/v1/jobs/{i}").json()["queue_position"] for i in ids)
    assert positions == list(range(1, 51))  # all waiting, each with its own place

    client.delete(f"/v1/jobs/{blocker}")
    jobs = [wait_job(client, i, timeout=120) for i in ids]
    assert [j["state"] for j in jobs] == ["succeeded"] * 50
    assert sorted(j["options"]["seed"] for j in jobs) == list(range(50))
    by_start = sorted(jobs, key=lambda j: j["started_at"])
    by_submit = sorted(jobs, key=lambda j: j["created_at"])
    assert [j["id"] for j in by_start] == [j["id"] for j in by_submit]  # first in, first out
    listed = {j["id"] for j in client.get("/v1/jobs", params={"limit": 1000}).json()["jobs"]}
    assert set(ids) <= listed
    for i in ids:
        assert (server.data / "outputs" / f"{i}.mp4").stat().st_size > 0


def test_a_full_queue_answers_429(client):
    blocker = submit(client, prompt="hold the worker", **SLOW)
    wait_job(client, blocker, until=("running",))
    waiting = client.get("/v1/health").json()["queue"]["queued"]
    for i in range(MAX_QUEUE - waiting):
        submit(client, prompt=f"filler {i}", steps=1, frames=1)
    r = client.post("/v1/jobs", json={"prompt": "one too many"})
    assert r.status_code == 429
    assert "queue is full" in r.json()["detail"] and r.headers["retry-after"]


BAD_JSON = [
    ({"prompt": "x", "height": 100000, "width": 64}, "limit"),
    ({"prompt": "x", "height": 33}, "multiple of 16"),
    ({"prompt": "x", "frames": 6}, "4k+1"),
    ({"prompt": "x", "frames": 100001}, "frames"),
    ({"prompt": "x", "steps": 0}, "steps"),
    ({"prompt": "x", "steps": 5000}, "steps"),
    ({"prompt": "x", "heigth": 64}, "unknown field"),
    ({"prompt": "x", "height": "tall"}, "height"),
    ({"height": 64}, "prompt"),
    ({"prompt": "x", "task": "i2v"}, "needs an input image"),
    ({"prompt": "x", "task": "v2v"}, "task"),
    ({"prompt": "x", "seed": -1}, "seed"),
    ({"prompt": "x", "cfg_scale": 0.5}, "cfg_scale"),
]


@pytest.mark.parametrize("body,words", BAD_JSON, ids=[w for _, w in BAD_JSON])
def test_bad_options_get_422_saying_what_to_fix(client, body, words):
    r = client.post("/v1/jobs", json=body)
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"]


def test_bad_uploads_and_bodies_get_4xx(client):
    form = {"task": "i2v", "prompt": "x"}
    r = client.post(
        "/v1/jobs", data=form, files={"image": ("a.png", b"#!/bin/sh\necho not an image\n", "image/png")}
    )
    assert r.status_code == 422 and "not an image" in r.json()["detail"]
    r = client.post("/v1/jobs", data=form, files={"image": ("a.gif", _gif(), "image/gif")})
    assert r.status_code == 422 and "GIF" in r.json()["detail"]
    r = client.post("/v1/jobs", data=form, files={"image": ("a.png", png_bytes()[:60], "image/png")})
    assert r.status_code == 422 and "image" in r.json()["detail"]
    big = png_bytes(8, 8) + b"\0" * (600 * 1024)  # a real PNG header, padded past the 0.5 MB limit
    r = client.post("/v1/jobs", data=form, files={"image": ("big.png", big, "image/png")})
    assert r.status_code == 413 and "at most" in r.json()["detail"]
    r = client.post("/v1/jobs", data={"prompt": "x"}, files={"image": ("a.png", png_bytes(), "image/png")})
    assert r.status_code == 422 and "i2v" in r.json()["detail"]
    r = client.post("/v1/jobs", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["detail"]
    r = client.post("/v1/jobs", content=b"prompt=x", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    r = client.post("/v1/jobs", json=["a", "list"])
    assert r.status_code == 422 and "object" in r.json()["detail"]
    r = client.get("/v1/jobs", params={"state": "sleeping"})
    assert r.status_code == 422 and "state must be one of" in r.json()["detail"]


def _gif() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("P", (8, 8)).save(buf, format="GIF")
    return buf.getvalue()


def test_unknown_ids_and_path_traversal_get_404(client, server):
    for path in (
        "/v1/jobs/0123456789abcdef0123456789abcdef",
        "/v1/jobs/not-a-job",
        "/v1/jobs/..%2F..%2Fjobs.sqlite/video",
        "/v1/jobs/%2e%2e/video",
        "/v1/jobs/0123456789abcdef0123456789abcdef/video",
        "/v1/jobs/0123456789abcdef0123456789abcdef/events",
    ):
        r = client.get(path)
        assert r.status_code == 404, (path, r.status_code, r.text[:200])
    r = client.get("/v1/jobs/0123456789abcdef0123456789abcdef")
    assert "no job with id" in r.json()["detail"] and "GET /v1/jobs" in r.json()["detail"]
    # Encoded so the client does not normalise the dots away: the id check itself must refuse it, and the
    # store must still be there afterwards.
    r = client.delete("/v1/jobs/..%2F..%2Fjobs.sqlite")
    assert r.status_code == 404, r.text[:200]
    assert client.get("/v1/jobs").status_code == 200
    assert not list(server.data.parent.rglob("escape*"))  # the i2v test's hostile file name went nowhere


def test_token_is_enforced_on_every_route(client, server):
    paths = [
        p.replace("{job_id}", "0123456789abcdef0123456789abcdef")
        for p in client.get("/openapi.json").json()["paths"]
    ]
    paths += ["/docs", "/openapi.json", "/", "/ui/"]
    for token in (None, "wrong-token-0000"):
        with server.client(token=token) as anon:
            for path in paths:
                for method in ("GET", "POST", "DELETE"):
                    r = anon.request(method, path)
                    assert r.status_code == 401, (token, method, path, r.status_code)
                    assert "Bearer" in r.json()["detail"]
    with server.client(token=None) as anon:
        r = anon.get("/v1/health", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        r = anon.get("/v1/health", headers={"Cookie": f"vitascope_token={TOKEN}"})
        assert r.status_code == 200


def test_a_model_that_fails_to_load_is_reported_not_hidden(tmp_path):
    (tmp_path / "empty-model").mkdir()
    srv = Server(tmp_path / "data", "--no-ui", model=tmp_path / "empty-model")
    try:
        with srv.client() as c:
            deadline = time.monotonic() + 120
            while True:
                try:
                    health = c.get("/v1/health").json()
                    if health["status"] != "loading":
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, srv.tail()
                time.sleep(0.2)
            assert health["status"] == "error" and health["error"]
            r = c.post("/v1/jobs", json={"prompt": "x"})
            assert r.status_code == 503 and "failed to load" in r.json()["detail"]
    finally:
        srv.stop()
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "vitascope.serve.app",
            "--model",
            str(tmp_path / "nope"),
            "--data",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2] / "src")),
        timeout=120,
    )
    assert missing.returncode != 0 and "is not a folder" in missing.stderr
