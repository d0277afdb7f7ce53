"""The local runner: the stages over a process pool (or in this process when workers=1). No Ray needed."""

from __future__ import annotations

import json
import logging
import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitascope.curate.config import CurateConfig
from vitascope.curate.stages import finish, list_inputs, process_clip, process_source
from vitascope.errors import InputFileError, InvalidOptionError

log = logging.getLogger(__name__)


@dataclass
class CurateResult:
    records: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    summary: dict[str, Any]
    out: Path


def check_args(input_dir: str | Path, workers: int) -> list[str]:
    if workers < 1:
        raise InvalidOptionError(f"--workers must be >= 1, got {workers}")
    if not Path(input_dir).is_dir():
        raise InputFileError(f"input folder not found: {input_dir}")
    return []


# Settings that only the global step (`stages.finish`) reads: changing them re-uses every per-item result.
_GLOBAL_ONLY = {"dataset": None, "encode": None, "embed": ("dedup_threshold", "clusters", "balance_power")}


def _item_settings(cfg: CurateConfig) -> dict:
    d = cfg.to_dict()
    for key, sub in _GLOBAL_ONLY.items():
        if sub is None:
            d.pop(key)
        else:
            d[key] = {k: v for k, v in d[key].items() if k not in sub}
    return d


def _flat(d: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}"""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_work_config(out: str | Path, cfg: CurateConfig) -> None:
    """Resuming re-uses the per-source and per-clip results in OUT/work, which were computed with the
    settings recorded in OUT/work/settings.json: refuse a run whose per-item settings differ, instead of
    silently mixing results made under two sets of thresholds."""
    from vitascope.curate.manifest import WorkDir, atomic_write_text

    path = WorkDir(out).out / "work" / "settings.json"
    now = _flat(json.loads(json.dumps(_item_settings(cfg), default=list)))
    if path.exists():
        before = json.loads(path.read_text())
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if changed:
            raise InvalidOptionError(
                f"{out} holds results curated with other settings ({', '.join(changed)} changed). "
                f"Curate into a new --out folder, or delete {path.parent} to redo every clip with the new settings."
            )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(now, indent=1, sort_keys=True))


def _map(fn: Callable, items: list, workers: int, desc: str, progress: bool) -> list:
    """fn over items, in order of completion; a pool of `workers` processes when workers > 1."""
    from tqdm import tqdm

    bar = tqdm(total=len(items), desc=desc, unit="item", disable=not progress)
    results = []
    if workers == 1:
        for item in items:
            results.append(fn(*item))
            bar.update()
    else:
        # spawn, not fork: a forked child would inherit the parent's ONNX Runtime sessions and threads
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            futures = [pool.submit(fn, *item) for item in items]
            for f in as_completed(futures):
                results.append(f.result())
                bar.update()
    bar.close()
    return results


def run_local(
    input_dir: str | Path, out: str | Path, cfg: CurateConfig | None = None, workers: int = 1,
    progress: bool = False,
) -> CurateResult:  # fmt: skip
    """Curate every video under input_dir into out; resumes from the per-item files of an earlier run."""
    cfg = cfg or CurateConfig()
    check_args(input_dir, workers)
    check_work_config(out, cfg)
    ind, o = str(input_dir), str(out)
    rels = list_inputs(ind, cfg)
    log.info("curating %d input files from %s", len(rels), ind)
    sources = _map(process_source, [(ind, r, o, cfg) for r in rels], workers, "split", progress)
    clips = _clips_of(sources)
    records = _map(process_clip, [(ind, c, o, cfg) for c in clips], workers, "clips", progress)
    recs, failures, summary = finish(o, sources, records, cfg)
    return CurateResult(recs, failures, summary, Path(out))


def _clips_of(sources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    clips = [c for s in sources if s["status"] == "ok" for c in s["clips"]]
    return sorted(clips, key=lambda c: c["clip_id"])
