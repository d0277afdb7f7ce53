"""`vitascope serve --devices cpu,cpu`: two workers over one job store run two jobs at the same time."""

import time

import pytest
from serve_helpers import start, submit, wait_job


@pytest.mark.timeout(300)
def test_two_cpu_workers_run_two_jobs_at_once(tmp_path):
    server = start(tmp_path / "data", "--devices", "cpu,cpu")
    try:
        with server.client() as c:
            ids = [submit(c, steps=100, seed=i) for i in range(2)]
            both, deadline = False, time.monotonic() + 120
            while not both and time.monotonic() < deadline:
                states = [c.get(f"/v1/jobs/{i}").json()["state"] for i in ids]
                both = states == ["running", "running"]
                if "succeeded" in states and not both:
                    break
                time.sleep(0.02)
            assert both, f"never saw both jobs running at once (last states {states})"
            for i in ids:
                assert wait_job(c, i, timeout=120)["state"] == "succeeded"
    finally:
        server.stop()
