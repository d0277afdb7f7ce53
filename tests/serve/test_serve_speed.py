"""`vitascope serve` takes the speed vocabulary of `generate` (--offload, --quantize, --fp8-matmul, --compile,
--attention) and applies it to the worker's model: the job's sidecar records it."""

import json

import pytest
from serve_helpers import start, submit, wait_job


@pytest.mark.timeout(300)
def test_serve_applies_fp8_and_offload_to_its_model(tmp_path):
    data = tmp_path / "data"
    server = start(data, "--quantize", "fp8", "--fp8-matmul", "off", "--offload", "block")
    try:
        with server.client() as c:
            job = wait_job(c, submit(c, steps=2, frames=5, height=32, width=32), timeout=120)
            assert job["state"] == "succeeded", job["error"]
    finally:
        server.stop()
    (sidecar,) = [p for p in data.rglob("*.json") if job["id"] in p.name]
    speed = json.loads(sidecar.read_text())["speed"]
    assert speed["quantize"] == "fp8" and speed["fp8_matmul"] == "off" and speed["offload"] == "block"


def test_serve_refuses_a_bad_speed_option(tmp_path):
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "vitascope.cli", "serve", "--data", str(tmp_path), "--quantize", "int3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    assert "error: --quantize must be" in r.stderr and "Traceback" not in r.stderr
