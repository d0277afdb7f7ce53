"""Load test of `vitascope serve`: submit latency under concurrency, and job throughput against direct calls.

Starts a real server subprocess (the tiny random model unless --model is given) on a free localhost port and
measures three things:

1. submit latency: `--clients` threads post `--submits` jobs while the worker is busy generating;
   p50/p95/max of the POST round trip and accepted submissions per second;
2. job throughput: `--jobs` small jobs (32x32, 5 frames, 2 steps) end to end through the queue, first POST to
   last `succeeded`, in jobs per second;
3. the same jobs run in-process with `pipe.generate` + `save_result`, so (2) / (3) is the serving overhead.

    PYTHONPATH=src python3 benchmarks/serve_load.py [--model DIR] [--clients 16] [--submits 200] [--jobs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

TOKEN = "bench-token-0123456789"
SMALL = dict(height=32, width=32, frames=5, steps=2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, data: Path, max_queue: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "vitascope.serve.app", "--model", str(model), "--data", str(data)]
    cmd += [
        "--port",
        str(port),
        "--token",
        TOKEN,
        "--no-ui",
        "--max-queue",
        str(max_queue),
        "--max-steps",
        "1000",
    ]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    log = open(data / "server.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/v1/health", headers=_auth(), timeout=2).json()["status"] == "ready":
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
        if proc.poll() is not None:
            sys.exit(f"server exited; see {data / 'server.log'}")
    sys.exit("server did not become ready in 300 s")


def _auth() -> dict:
    return {"Authorization": f"Bearer {TOKEN}"}


def wait_all(c: httpx.Client, ids: list[str]) -> list[dict]:
    """Follow the last job's event stream to its end (the queue is FIFO), then read every job once."""
    with c.stream("GET", f"/v1/jobs/{ids[-1]}/events", timeout=None) as r:
        for line in r.iter_lines():
            if line.startswith("event: end"):
                break
    jobs = [c.get(f"/v1/jobs/{i}").json() for i in ids]
    for job in jobs:  # a cancel of a running job lands at its next step, maybe just after the last one ended
        while job["state"] not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.05)
            job.update(c.get(f"/v1/jobs/{job['id']}").json())
    return jobs


def submit_latency(url: str, clients: int, submits: int) -> dict:
    """`clients` threads, each with its own keep-alive connection, post `submits` jobs in all."""
    with httpx.Client(base_url=url, headers=_auth(), timeout=60) as c:
        busy = {"prompt": "keep the worker busy", "steps": 1000, "height": 64, "width": 64, "frames": 9}
        blocker = c.post("/v1/jobs", json=busy).json()["id"]

        def client(k):
            out = []
            with httpx.Client(base_url=url, headers=_auth(), timeout=60) as cc:
                for i in range(k, submits, clients):
                    t0 = time.perf_counter()
                    r = cc.post("/v1/jobs", json={"prompt": f"load {i}", "seed": i, "steps": 1, "frames": 1})
                    out.append((r.status_code, time.perf_counter() - t0, r.json().get("id")))
            return out

        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            results = [r for part in pool.map(client, range(clients)) for r in part]
        wall = time.perf_counter() - t0
        worker_busy = c.get(f"/v1/jobs/{blocker}").json()["state"] == "running"
        codes = [r[0] for r in results]
        lat = sorted(r[1] for r in results)
        ids = [r[2] for r in results if r[0] == 201]
        for i in [blocker, *ids]:  # leave an empty queue for the throughput phase
            c.delete(f"/v1/jobs/{i}")
        wait_all(c, [blocker, *ids])
    return {
        "clients": clients,
        "submits": submits,
        "accepted": codes.count(201),
        "other_codes": sorted(set(codes) - {201}),
        "worker_busy_throughout": worker_busy,
        "submit_p50_ms": 1000 * statistics.median(lat),
        "submit_p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))],
        "submit_max_ms": 1000 * lat[-1],
        "submits_per_s": submits / wall,
    }


def job_throughput(url: str, jobs: int) -> dict:
    with httpx.Client(base_url=url, headers=_auth(), timeout=60) as c:
        t0 = time.perf_counter()
        ids = [
            c.post("/v1/jobs", json={"prompt": f"tp {i}", "seed": i, **SMALL}).json()["id"]
            for i in range(jobs)
        ]
        done = wait_all(c, ids)
        wall = time.perf_counter() - t0
    assert all(j["state"] == "succeeded" for j in done), [
        j["error"] for j in done if j["state"] != "succeeded"
    ]
    runs = [j["finished_at"] - j["started_at"] for j in done]
    return {
        "jobs": jobs,
        "wall_s": wall,
        "jobs_per_s": jobs / wall,
        "run_p50_ms": 1000 * statistics.median(runs),
    }


def direct_throughput(model: Path, jobs: int, out: Path) -> dict:
    import vitascope
    from vitascope.pipelines.options import GenerationOptions
    from vitascope.pipelines.output import save_result

    pipe = vitascope.load_pipeline(str(model))
    t0 = time.perf_counter()
    for i in range(jobs):
        result = pipe.generate(GenerationOptions(prompt=f"tp {i}", seed=i, **SMALL))
        save_result(result, out / f"{i}.mp4")
    wall = time.perf_counter() - t0
    return {"jobs": jobs, "wall_s": wall, "jobs_per_s": jobs / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, help="model folder (default: a fresh tiny random model)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--submits", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=30)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="vitascope-serve-load-") as tmp:
        tmp = Path(tmp)
        model = args.model
        if model is None:
            from vitascope.pipelines.tiny import write_tiny_model

            model = Path(write_tiny_model(tmp / "tiny"))
        data = tmp / "data"
        data.mkdir()
        proc, url = start_server(model, data, max_queue=args.submits + 10)
        try:
            latency = submit_latency(url, args.clients, args.submits)
            served = job_throughput(url, args.jobs)
        finally:
            proc.terminate()
            proc.wait(60)
        (tmp / "direct").mkdir()
        direct = direct_throughput(model, args.jobs, tmp / "direct")

    figures = {"submit": latency, "served": served, "direct": direct, "cpu_count": os.cpu_count()}
    figures["serving_overhead_ratio"] = direct["jobs_per_s"] / served["jobs_per_s"]
    print(json.dumps(figures, indent=2))
    print(
        f"\nsubmit latency p50 {latency['submit_p50_ms']:.1f} ms, p95 {latency['submit_p95_ms']:.1f} ms "
        f"({latency['clients']} clients, {latency['accepted']}/{latency['submits']} accepted, "
        f"{latency['submits_per_s']:.0f} submits/s)\n"
        f"jobs through the server: {served['jobs_per_s']:.2f}/s; direct calls: {direct['jobs_per_s']:.2f}/s; "
        f"overhead ratio {figures['serving_overhead_ratio']:.2f}x"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
