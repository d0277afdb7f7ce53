"""Step caches against the uncached video: DiT calls saved, seconds, and PSNR, swept over thresholds.

For each model (the bundled demo model, and a tiny random model written to a temporary folder) the pipeline is
loaded once and generates the same prompt and seed uncached, then under each `--cache` setting. Printed per
setting: full/cached DiT calls, call ratio (uncached calls / full calls), time ratio (uncached seconds /
cached seconds, end to end including text and VAE), and the PSNR of the video against the uncached one (frames
in [0, 1]). A plot of threshold vs call ratio and PSNR is written to docs/img/cache_curve.png.

    PYTHONPATH=src python3 benchmarks/bench_cache.py [--threads 2] [--models demo,tiny] [--plot PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, set_threads, setup_paths  # noqa: E402

setup_paths()

PROMPT = "a red circle moving right on a black background"
SWEEP = {
    "teacache": [0.1, 0.2, 0.4],
    "fbcache": [0.05, 0.1, 0.2],
    "deepcache": [2, 4],
}
# The tiny model has random weights: its features change much more between steps, so larger thresholds.
TINY_SWEEP = {"teacache": [0.2, 0.4, 0.8], "fbcache": [0.3, 0.6, 1.2], "deepcache": [2, 4]}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def run_model(name: str, folder, sweep: dict, steps: int | None) -> list[dict]:
    from vitascope import load_pipeline
    from vitascope.pipelines.options import GenerationOptions

    pipe = load_pipeline(folder, device="cpu")

    def gen(cache):
        opts = GenerationOptions(prompt=PROMPT, seed=0, steps=steps, cache=cache)
        t = time.perf_counter()
        r = pipe.generate(opts)
        return r.video, time.perf_counter() - t, r.metadata["speed"]["dit_calls"]

    ref, ref_s, ref_calls = gen(None)
    total = ref_calls["full"]
    rows = [dict(model=name, policy="none", threshold=0, full=total, cached=0, call_ratio=1.0, time_ratio=1.0,
                 psnr=math.inf, seconds=ref_s)]  # fmt: skip
    print(f"[{name}] uncached: {total} DiT calls, {ref_s:.1f} s", flush=True)
    for policy, values in sweep.items():
        for v in values:
            video, s, calls = gen(f"{policy}:{v}")
            row = dict(model=name, policy=policy, threshold=v, full=calls["full"], cached=calls["cached"],
                       call_ratio=total / max(1, calls["full"]), time_ratio=ref_s / s, psnr=psnr(video, ref),
                       seconds=s)  # fmt: skip
            rows.append(row)
            print(
                f"[{name}] {policy}:{v:<5g} full {row['full']:3d} cached {row['cached']:3d}  "
                f"calls {row['call_ratio']:.2f}x  time {row['time_ratio']:.2f}x  PSNR {row['psnr']:.1f} dB",
                flush=True,
            )
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in rows})
    policies = [p for p in SWEEP if any(r["policy"] == p for r in rows)]
    fig, axes = plt.subplots(
        len(models), len(policies), figsize=(4 * len(policies), 3.2 * len(models)), squeeze=False
    )
    for i, m in enumerate(models):
        for j, p in enumerate(policies):
            pts = sorted(
                (r for r in rows if r["model"] == m and r["policy"] == p), key=lambda r: r["threshold"]
            )
            ax = axes[i][j]
            x = [r["threshold"] for r in pts]
            ax.plot(x, [r["call_ratio"] for r in pts], "o-", color="tab:blue", label="fewer DiT calls (x)")
            ax.plot(
                x, [r["time_ratio"] for r in pts], "s--", color="tab:green", label="faster end to end (x)"
            )
            ax.set_xlabel("interval" if p == "deepcache" else "threshold")
            ax.set_ylabel("speed-up (x)")
            ax.set_title(f"{m}: {p}")
            ax2 = ax.twinx()
            ax2.plot(x, [min(r["psnr"], 60) for r in pts], "^:", color="tab:red", label="PSNR (dB)")
            ax2.axhline(30, color="tab:red", lw=0.5)
            ax2.set_ylabel("PSNR vs uncached (dB)")
            if i == 0 and j == 0:
                h1, l1 = ax.get_legend_handles_labels()
                h2, l2 = ax2.get_legend_handles_labels()
                ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="demo,tiny")
    ap.add_argument("--steps", type=int, default=None, help="default: the model's own")
    ap.add_argument("--plot", type=Path, default=ROOT / "docs" / "img" / "cache_curve.png")
    ap.add_argument(
        "--sweep", default=None, help='e.g. "teacache=0.1,0.15;deepcache=3" (replaces the default)'
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    ap.add_argument("--replot", type=Path, nargs="*", help="plot rows from these --json files; run nothing")
    args = ap.parse_args()
    if args.replot:
        plot([r for f in args.replot for r in json.loads(f.read_text())], args.plot)
        return
    set_threads(args.threads)
    custom = None
    if args.sweep:
        custom = {}
        for part in args.sweep.split(";"):
            policy, _, values = part.partition("=")
            custom[policy.strip()] = [float(v) for v in values.split(",")]
    rows = []
    for name in args.models.split(","):
        if name == "demo":
            rows += run_model("demo", None, custom or SWEEP, args.steps)
        else:
            from vitascope.pipelines.tiny import write_tiny_model

            with tempfile.TemporaryDirectory() as d:
                rows += run_model("tiny", write_tiny_model(d), custom or TINY_SWEEP, args.steps or 20)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    plot(rows, args.plot)


if __name__ == "__main__":
    main()
