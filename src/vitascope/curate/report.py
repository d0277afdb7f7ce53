"""The summary report of a run: counts per stage, rejection reasons, histograms (PNG), stage timings."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from vitascope.curate.manifest import atomic_write_text, to_jsonable

log = logging.getLogger(__name__)

# which stage each rejection reason comes from
REASON_STAGE = {
    "too_short": "1-2 split/trim", "error": "decode",
    "blurry": "3 quality", "underexposed": "3 quality", "overexposed": "3 quality", "low_contrast": "3 quality",
    "low_colourfulness": "3 quality", "noisy": "3 quality", "frozen": "3 quality",
    "static": "4 motion", "too_fast": "4 motion",
    "subtitles": "5 text", "too_much_text": "5 text",
    "too_many_people": "7 people", "subject_too_small": "7 people",
    "duplicate": "8 dedup",
}  # fmt: skip
_HISTOGRAMS = ("duration", "sharpness", "brightness", "contrast", "speed", "text_ratio", "sample_weight")


def summarise(sources, records, failures, timings) -> dict[str, Any]:
    reasons = Counter(x for r in records for x in r["reasons"])
    first_reject = Counter(REASON_STAGE.get(r["reasons"][0], "other") for r in records if not r["kept"])
    stage_time = Counter({"split": sum(s.get("seconds", 0.0) for s in sources)})  # probe + shot detection
    for t in timings:
        stage_time.update(t)
    analysed = sum(1 for t in timings if t)
    return {
        "inputs": len(sources),
        "failed_inputs": len(failures),
        "clips": len(records),
        "kept": sum(r["kept"] for r in records),
        "rejected_by_stage": dict(sorted(first_reject.items())),
        "reasons": dict(reasons.most_common()),
        "camera_motion": dict(
            Counter(r["camera_motion"] for r in records if r["camera_motion"]).most_common()
        ),
        "training_stages": dict(Counter(s for r in records for s in r.get("stages") or []).most_common()),
        "buckets": dict(Counter(r["bucket"] for r in records if r["kept"] and r.get("bucket")).most_common()),
        "clips_analysed": analysed,
        "seconds_per_stage": {k: round(v, 3) for k, v in sorted(stage_time.items())},
        "clips_per_second_per_stage": {
            k: round((len(records) if k == "split" else analysed) / v, 2)
            for k, v in sorted(stage_time.items())
            if v > 0 and analysed
        },
    }


def write_report(folder: Path, sources, records, failures, timings) -> dict[str, Any]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary = summarise(sources, records, failures, timings)
    atomic_write_text(folder / "summary.json", json.dumps(to_jsonable(summary), indent=2))
    pngs = _plots(folder, records, summary)
    lines = [
        "# Curation report", "",
        f"- inputs: {summary['inputs']} ({summary['failed_inputs']} unreadable)",
        f"- clips: {summary['clips']}, kept: {summary['kept']}", "",
        "| stage | clips rejected first here |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in summary["rejected_by_stage"].items()], "",
        "| reason | clips |", "|---|---|", *[f"| {k} | {v} |" for k, v in summary["reasons"].items()], "",
        *[f"![{p.stem}]({p.name})" for p in pngs],
    ]  # fmt: skip
    atomic_write_text(folder / "report.md", "\n".join(lines) + "\n")
    return summary


def _plots(folder: Path, records, summary) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    for name in _HISTOGRAMS:
        vals = [
            (r["end"] - r["start"]) if name == "duration" else r.get(name)
            for r in records
        ]  # fmt: skip
        vals = [float(v) for v in vals if v is not None]
        if not vals:
            continue
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.hist(vals, bins=20, color="#4472c4")
        ax.set_title(name)
        ax.set_ylabel("clips")
        fig.tight_layout()
        out.append(folder / f"hist_{name}.png")
        fig.savefig(out[-1], dpi=80)
        plt.close(fig)
    for name in ("reasons", "camera_motion", "rejected_by_stage"):
        counts = summary[name]
        if not counts:
            continue
        fig, ax = plt.subplots(figsize=(5, 0.3 * len(counts) + 1))
        ax.barh(list(counts)[::-1], list(counts.values())[::-1], color="#c0504d")
        ax.set_title(name.replace("_", " "))
        fig.tight_layout()
        out.append(folder / f"bar_{name}.png")
        fig.savefig(out[-1], dpi=80)
        plt.close(fig)
    return out
