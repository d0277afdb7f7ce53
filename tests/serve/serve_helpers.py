"""Start a real `vitascope serve` process on a free localhost port and talk HTTP to it (not a test module)."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-token-0123456789"
TERMINAL = ("succeeded", "failed", "cancelled")
_TINY: dict[str, Path] = {}
_STARTED: list[subprocess.Popen] = []


@atexit.register
def _kill_leftovers() -> None:
    """A test that fails between start and stop must not leave a server running after pytest exits."""
    for proc in _STARTED:
        if proc.poll() is None:
            proc.kill()


def tiny_model() -> Path:
    """One tiny random model folder per pytest process, shared by every serve test file."""
    if "dir" not in _TINY:
        from vitascope.pipelines.tiny import write_tiny_model

        root = Path(tempfile.mkdtemp(prefix="vitascope-serve-tiny-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _TINY["dir"] = Path(write_tiny_model(root / "tiny", seed=0))
    return _TINY["dir"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `python -m vitascope.serve.app` subprocess; its log goes to DATA/server-N.log."""

    def __init__(self, data: Path, *args: str, token: str | None = TOKEN, model: Path | None = None):
        self.data, self.token = Path(data), token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data.mkdir(parents=True, exist_ok=True)
        n = len(list(self.data.glob("server-*.log")))
        self.log = self.data / f"server-{n}.log"
        cmd = [
            sys.executable,
            "-m",
            "vitascope.serve.app",
            "--data",
            str(self.data),
            "--port",
            str(self.port),
        ]
        cmd += ["--model", str(model or tiny_model())]
        if token:
            cmd += ["--token", token]
        cmd += list(args)
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
        self._log_file = open(self.log, "wb")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self._log_file, stderr=subprocess.STDOUT)
        _STARTED.append(self.proc)

    def client(self, token: str | None = "default", timeout: float = 30.0) -> httpx.Client:
        token = self.token if token == "default" else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def wait_ready(self, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        with self.client(timeout=5) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
                try:
                    health = c.get("/v1/health").json()
                    if health["status"] == "ready":
                        return health
                    if health["status"] == "error":
                        raise RuntimeError(f"model failed to load: {health['error']}")
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"server not ready after {timeout} s:\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._log_file.close()

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM: the graceful path (uvicorn shutdown, worker re-queues the running job)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log_file.close()
        return self.proc.returncode


def start(data: Path, *args: str, **kw) -> Server:
    server = Server(data, *args, **kw)
    try:
        server.wait_ready()
    except BaseException:
        server.stop(10)
        raise
    return server


def wait_job(client: httpx.Client, job_id: str, until=TERMINAL, timeout: float = 60.0, pred=None) -> dict:
    """Poll GET /v1/jobs/{id} until its state is in `until` (and `pred(job)` holds, when given)."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if job["state"] in until and (pred is None or pred(job)):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"job {job_id} still {job['state']} (step {job['progress']}) after {timeout} s"
            )
        time.sleep(0.05)


def submit(client: httpx.Client, **fields) -> str:
    fields.setdefault("prompt", "a red ball rolls across a blue floor")
    r = client.post("/v1/jobs", json=fields)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def png_bytes(w: int = 40, h: int = 24, color=(200, 40, 40), fmt: str = "PNG") -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, format=fmt)
    return buf.getvalue()
