"""Curation throughput: clips per second per stage, and end to end, on procedurally generated videos.

Writes `--videos` H.264 files of `--seconds` each at `--size` (textured panning shots with a cut in the
middle, so every file gives two clips), runs `vitascope curate`'s local runner (and with --ray the Ray runner)
into a fresh folder, and prints:

1. per stage: seconds summed over clips and clips per second of one worker (from the per-clip timings);
2. end to end: wall time and clips per second of the whole run (split + stages + dedup + report).

    PYTHONPATH=src python3 benchmarks/curate_throughput.py [--videos 8] [--seconds 4] [--size 640x360]
        [--workers 1] [--ray]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def texture(seed: int, w: int, h: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for scale, amp in ((64, 1.0), (16, 0.5), (4, 0.25)):
        small = rng.random((max(2, h // scale), max(2, w // scale), 3)).astype(np.float32)
        img += amp * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img = (img - img.min()) / (img.max() - img.min()) * 200 + 30
    for _ in range(120):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(4, 30))
        cv2.circle(img, (x, y), r, c, -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_videos(folder: Path, n: int, seconds: float, w: int, h: int, fps: int = 24) -> None:
    from vitascope.media import write_video

    frames = int(seconds * fps)
    for i in range(n):
        shots = []
        for part in range(2):
            tex = texture(2 * i + part, w * 2, h + 40)
            speed = (w / fps) * 0.2  # a fifth of the frame width per second
            shots += [tex[20 : 20 + h, int(k * speed) : int(k * speed) + w] for k in range(frames // 2)]
        write_video(np.stack(shots), folder / f"video_{i:03d}.mp4", fps=fps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--ray", action="store_true", help="also time the Ray runner")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    from vitascope.curate.config import CurateConfig
    from vitascope.curate.runner_local import run_local

    results = {
        "videos": args.videos,
        "seconds_each": args.seconds,
        "size": args.size,
        "workers": args.workers,
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        make_videos(tmp / "in", args.videos, args.seconds, w, h)
        runners = [("local", run_local)]
        if args.ray:
            from vitascope.curate.runner_ray import run_ray

            runners.append(("ray", run_ray))
        for name, run in runners:
            t0 = time.perf_counter()
            res = run(tmp / "in", tmp / f"out_{name}", CurateConfig(), workers=args.workers)
            wall = time.perf_counter() - t0
            s = res.summary
            results[name] = {
                "clips": s["clips"], "kept": s["kept"], "wall_s": round(wall, 2),
                "clips_per_s": round(s["clips"] / wall, 2),
                "per_stage_clips_per_s": s["clips_per_second_per_stage"], "per_stage_s": s["seconds_per_stage"],
            }  # fmt: skip
    for name in ("local", "ray"):
        if name not in results:
            continue
        r = results[name]
        print(
            f"\n{name} runner: {r['clips']} clips ({r['kept']} kept) in {r['wall_s']} s = {r['clips_per_s']} clips/s"
        )
        print(f"{'stage':10s} {'seconds':>8s} {'clips/s (1 worker)':>20s}")
        for stage, secs in sorted(r["per_stage_s"].items(), key=lambda kv: -kv[1]):
            print(f"{stage:10s} {secs:8.2f} {r['per_stage_clips_per_s'].get(stage, 0):20.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results), file=sys.stderr)


if __name__ == "__main__":
    main()
