"""The Ray runner: the same per-item stages as the local runner, mapped over Ray Data datasets.

Rows cross process boundaries as JSON text so that Arrow never has to infer a schema for the nested,
clip-dependent record dicts. The global stages run on the driver, exactly as in the local runner.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from vitascope.curate.config import CurateConfig
from vitascope.curate.runner_local import CurateResult, _clips_of, check_args, check_work_config
from vitascope.curate.stages import finish, list_inputs, process_clip, process_source

log = logging.getLogger(__name__)


class _SourceStage:
    def __init__(self, input_dir: str, out: str, cfg: CurateConfig):
        self.args = (input_dir, out, cfg)

    def __call__(self, row: dict) -> dict:
        ind, out, cfg = self.args
        return {"json": json.dumps(process_source(ind, row["item"], out, cfg))}


class _ClipStage:
    def __init__(self, input_dir: str, out: str, cfg: CurateConfig):
        self.args = (input_dir, out, cfg)

    def __call__(self, row: dict) -> dict:
        ind, out, cfg = self.args
        return {"json": json.dumps(process_clip(ind, json.loads(row["item"]), out, cfg))}


def run_ray(
    input_dir: str | Path, out: str | Path, cfg: CurateConfig | None = None, workers: int = 1,
    progress: bool = False,
) -> CurateResult:  # fmt: skip
    """Curate with Ray Data. Uses the running Ray cluster, or starts a local one with `workers` CPUs."""
    import ray

    cfg = cfg or CurateConfig()
    check_args(input_dir, workers)
    check_work_config(out, cfg)
    if not ray.is_initialized():
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    ind, o = str(Path(input_dir).resolve()), str(Path(out).resolve())
    rels = list_inputs(ind, cfg)
    sources = _run(rels, _SourceStage(ind, o, cfg), workers)
    clips = _clips_of(sources)
    records = _run([json.dumps(c) for c in clips], _ClipStage(ind, o, cfg), workers)
    recs, failures, summary = finish(o, sources, records, cfg)
    return CurateResult(recs, failures, summary, Path(out))


def _run(items: list, fn, workers: int) -> list[dict]:
    import ray

    if not items:
        return []
    ds = ray.data.from_items([{"item": it} for it in items], override_num_blocks=min(len(items), 4 * workers))
    rows = ds.map(fn, concurrency=workers).take_all()
    return [json.loads(r["json"]) for r in rows]
