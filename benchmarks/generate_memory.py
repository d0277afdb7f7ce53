"""Peak resident memory of `vitascope generate` at 1x and 8x the frames (tiny random model, fixed size).

Each run is a fresh process (`python -m vitascope.cli generate ... --output X.mp4`); its peak RSS comes from
the kernel's accounting for that child (`os.wait4`), so imports, model loading, denoising, the decode and the
mp4 write are all inside the figure. The streaming decode should make the 8x run cost about what the 1x run
costs: target ratio <= 1.3 (issue 10). For contrast the same sizes are run through the in-memory path
(`pipe.generate(opts)` then `save_result`, which holds every frame), whose peak grows with the frames.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/generate_memory.py [--size 128] [--frames 33]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.3
SRC = str(Path(__file__).resolve().parents[1] / "src")
if SRC not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, SRC)

PROMPT = "a red circle moving right on a black background"
IN_MEMORY = """
import sys, vitascope
from vitascope.pipelines.options import GenerationOptions
from vitascope.pipelines.output import save_result
model, size, frames, out, prompt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
pipe = vitascope.load_pipeline(model)
opts = GenerationOptions(prompt=prompt, height=size, width=size, frames=frames, steps=1, seed=0)
save_result(pipe.generate(opts), out)
"""


def run(cmd: list[str], log: Path) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one child process; raises if it fails."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    with open(log, "w") as err:
        child = subprocess.Popen(cmd, env=env, stdout=err, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed:\n{log.read_text()[-2000:]}")
    kib = usage.ru_maxrss / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS, KiB on Linux
    return kib / 1024, time.perf_counter() - start


def streamed(model: Path, size: int, frames: int, out: Path) -> list[str]:
    args = ["--model", str(model), "--prompt", PROMPT, "--height", str(size), "--width", str(size)]
    args += ["--frames", str(frames), "--steps", "1", "--seed", "0", "--output", str(out)]
    return [sys.executable, "-m", "vitascope.cli", "generate", *args]


def in_memory(model: Path, size: int, frames: int, out: Path) -> list[str]:
    return [sys.executable, "-c", IN_MEMORY, str(model), str(size), str(frames), str(out), PROMPT]


def main() -> None:
    from vitascope.pipelines.tiny import write_tiny_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128, help="height = width in pixels (multiple of 16)")
    parser.add_argument("--frames", type=int, default=33, help="the 1x frame count (4k+1)")
    parser.add_argument("--factor", type=int, default=8)
    parser.add_argument("--skip-in-memory", action="store_true", help="only the streaming CLI")
    a = parser.parse_args()
    long = (a.frames - 1) * a.factor + 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = write_tiny_model(tmp / "tiny")
        print(f"tiny random model, {a.size}x{a.size}, 1 step, {a.frames} vs {long} frames")
        print(f"{'path':<34}{'frames':>8}{'peak RSS MiB':>14}{'wall s':>9}")
        paths = [("vitascope generate (streamed)", streamed)]
        if not a.skip_in_memory:
            paths.append(("generate() in memory + save_result", in_memory))
        for name, build in paths:
            peaks = []
            for frames in (a.frames, long):
                rss, wall = run(build(model, a.size, frames, tmp / f"{frames}.mp4"), tmp / "log.txt")
                peaks.append(rss)
                print(f"{name:<34}{frames:>8}{rss:>14.1f}{wall:>9.1f}")
            ratio = peaks[1] / peaks[0]
            verdict = (
                ""
                if build is in_memory
                else f"  (target <= {TARGET}: {'met' if ratio <= TARGET else 'MISSED'})"
            )
            print(f"{'':<34}{'ratio':>8}{ratio:>14.2f}{verdict}")


if __name__ == "__main__":
    main()
