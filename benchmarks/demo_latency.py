"""Default generation with the bundled demo model on 2 CPU cores, start-up included.

Runs `vitascope generate` (T2V) and `vitascope generate --image` (I2V) as fresh processes with
OMP_NUM_THREADS=2 (and pinned to 2 cores where the OS allows), timing each from process start to exit:
interpreter start, imports, model loading, text encoding, denoising, VAE decode and the mp4 write.
Target (issue 3): <= 20 s each.

    python benchmarks/demo_latency.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 20.0
SRC = str(Path(__file__).resolve().parents[1] / "src")
if SRC not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, SRC)


def _pin_two_cores() -> list[str]:
    """A taskset prefix using two cores when taskset exists and the machine has them."""
    if sys.platform.startswith("linux") and (os.cpu_count() or 1) >= 2:
        from shutil import which

        if which("taskset"):
            return ["taskset", "-c", "0,1"]
    return []


def _input_image(folder: Path) -> Path:
    from PIL import Image

    from vitascope.synthetic.render import render
    from vitascope.synthetic.world import sample_scene

    spec = sample_scene(
        3, 1, 64, 64, n_objects=1, background="black", camera="static", shape="square", colour="green"
    )
    path = folder / "input.png"
    Image.fromarray(render(spec)[0]).save(path)
    return path


def time_once(args: list[str]) -> float:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "2",
        "MKL_NUM_THREADS": "2",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [*_pin_two_cores(), sys.executable, "-m", "vitascope.cli", "generate", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"generate failed:\n{proc.stderr[-2000:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image = _input_image(tmp)
        cases = {
            "t2v": [
                "--prompt",
                "a red circle moving right on a black background",
                "--seed",
                "1",
                "-o",
                str(tmp / "t2v.mp4"),
            ],
            "i2v": [
                "--prompt",
                "a green square moving left on a black background",
                "--image",
                str(image),
                "--seed",
                "1",
                "-o",
                str(tmp / "i2v.mp4"),
            ],
        }
        for name, args in cases.items():
            times = [time_once(args) for _ in range(a.repeats)]
            med = statistics.median(times)
            verdict = "ok" if med <= TARGET_S else "OVER TARGET"
            print(
                f"{name}: median {med:.1f} s over {a.repeats} runs (min {min(times):.1f}, max {max(times):.1f}); "
                f"target <= {TARGET_S:.0f} s: {verdict}; ratio to target {med / TARGET_S:.2f}"
            )


if __name__ == "__main__":
    main()
