"""Loss and throughput logging: one JSON line per logged step in <run>/metrics.jsonl, plus the log."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path

log = logging.getLogger("vitascope.train")


class MetricsLog:
    """Averages values over `every` steps and appends them, with samples/s and steps/s, to metrics.jsonl.

    On resume the file is cut back to the resumed step, so the curve has no duplicate or orphan points.
    """

    def __init__(self, run_dir: str | Path, every: int, enabled: bool = True, start_step: int = 0):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.every = max(1, every)
        self.enabled = enabled
        self._sums: dict[str, float] = {}
        self._count = 0
        self._samples = 0
        self._t0 = time.perf_counter()
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._truncate(start_step)

    def _truncate(self, start_step: int) -> None:
        if not self.path.exists():
            return
        keep = [
            line
            for line in self.path.read_text().splitlines()
            if line and json.loads(line)["step"] <= start_step
        ]
        from vitascope.train.checkpoint import atomic_text

        atomic_text(self.path, "".join(line + "\n" for line in keep))

    def add(self, step: int, values: dict[str, float], samples: int, force: bool = False) -> dict | None:
        """Record one optimizer step (1-based `step` = steps done); returns the averaged row when written
        (every `every` steps, and when `force`: the last step of a call)."""
        for k, v in values.items():
            self._sums[k] = self._sums.get(k, 0.0) + float(v)
        self._count += 1
        self._samples += samples
        if step % self.every and not force:
            return None
        dt = max(time.perf_counter() - self._t0, 1e-9)
        row = {"step": step, **{k: v / self._count for k, v in self._sums.items()}}
        row["samples_per_s"] = self._samples / dt
        row["s_per_step"] = dt / self._count
        self._sums, self._count, self._samples, self._t0 = {}, 0, 0, time.perf_counter()
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            shown = " ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "step")
            log.info("step %d %s", step, shown)
        return row


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def plot_curves(runs: dict[str, str | Path], out_png: str | Path, keys=("loss",)) -> Path:
    """One panel per run: each key of metrics.jsonl against the step (log-scale loss), saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 3.6), squeeze=False)
    for ax, (title, run) in zip(axes[0], runs.items(), strict=True):
        rows = read_metrics(run)
        for key in keys:
            pts = [(r["step"], r[key]) for r in rows if key in r]
            if pts:
                ax.plot(*zip(*pts, strict=True), label=key)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def progress(total: int, initial: int = 0, desc: str = "", unit: str = "it", enabled: bool = True):
    """A tqdm bar on stderr; drawn only on a terminal (and only where `enabled`, e.g. rank 0), so logs and
    CI output stay clean."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=initial, desc=desc, unit=unit, disable=None if enabled else True, leave=False
    )


@contextlib.contextmanager
def quiet_loggers(*names: str, level: int = logging.ERROR):
    """Raise the given loggers to `level` inside the block and give them back their own levels after."""
    loggers = [logging.getLogger(n) for n in names]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(level)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, saved, strict=True):
            lg.setLevel(lv)
