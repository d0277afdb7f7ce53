"""The manifest: one record (a plain dict) per clip, stored per clip while a run goes on, as parquet at the end.

Layout of an output folder:

    OUT/work/sources/<key>.json   per input file: probe + the clips it was split into, or why it failed
    OUT/work/clips/<clip_id>.json per clip: every measured attribute (written once, atomically)
    OUT/manifest.parquet          the final table (built from the per-clip files after the global stages)
    OUT/failures.jsonl            inputs that could not be read
    OUT/report/                   summary.json, report.md, histograms

A per-clip file exists only once its clip is finished, so a killed run resumes by skipping those files.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from vitascope.io.files import atomic_write, write_text_atomic

# Columns every manifest has, in this order; anything else a stage adds follows.
REQUIRED_COLUMNS = ("clip_id", "source", "start", "end", "kept", "reasons", "camera_motion", "caption")
# Stored as JSON text in parquet so the schema stays flat and stable across runs.
_JSON_COLUMNS = ("motion_params", "quality", "crop", "watermark_box", "text_boxes")


def atomic_write_text(path: Path, text: str) -> None:
    """Readers see all or nothing (`vitascope.io.files`)."""
    write_text_atomic(path, text)


def to_jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: Path, obj: Any) -> Any:
    """Write obj as JSON (key order kept: captions follow the schema order) and return what a reader gets
    back, so a fresh result and one resumed from disk are the same object."""
    text = json.dumps(to_jsonable(obj))
    atomic_write_text(path, text)
    return json.loads(text)


def read_json(path: Path) -> Any | None:
    """The parsed file, or None if it is missing or unreadable (a crash can leave only temp files)."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, ValueError):
        return None


def source_key(rel_path: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", Path(rel_path).stem).strip("-")[:40] or "video"
    digest = hashlib.sha1(rel_path.encode()).hexdigest()[:8]
    return f"{slug}_{digest}"


def clip_id(rel_path: str, shot: int, chunk: int) -> str:
    return f"{source_key(rel_path)}_s{shot:03d}c{chunk:02d}"


class WorkDir:
    """Paths and per-item persistence of one output folder."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.sources = self.out / "work" / "sources"
        self.clips = self.out / "work" / "clips"
        self.report = self.out / "report"

    def source_path(self, rel_path: str) -> Path:
        return self.sources / f"{source_key(rel_path)}.json"

    def clip_path(self, cid: str) -> Path:
        return self.clips / f"{cid}.json"

    @property
    def manifest_path(self) -> Path:
        return self.out / "manifest.parquet"

    @property
    def failures_path(self) -> Path:
        return self.out / "failures.jsonl"


def write_failures(path: Path, failures: list[dict[str, Any]]) -> None:
    lines = [json.dumps(to_jsonable(f), sort_keys=True) for f in failures]
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def write_manifest(path: Path, records: list[dict[str, Any]]) -> None:
    """Write records as parquet (atomically); nested values listed in _JSON_COLUMNS become JSON text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [_flatten(r) for r in records]
    columns = list(REQUIRED_COLUMNS)
    for r in rows:
        columns += [k for k in r if k not in columns]
    table = pa.table({c: _column(c, [r.get(c) for r in rows]) for c in columns})
    atomic_write(path, lambda tmp: pq.write_table(table, str(tmp)))


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    row = to_jsonable(dict(record))
    for key in _JSON_COLUMNS:
        if key in row and not isinstance(row[key], str):
            row[key] = json.dumps(row[key], sort_keys=True)
    if isinstance(row.get("caption"), dict):
        row["caption"] = json.dumps(row["caption"], ensure_ascii=False)
    return row


def _column(name: str, values: list[Any]):
    import pyarrow as pa

    if name in ("reasons", "flags", "stages", "caption_variants"):
        return pa.array([list(v) if v is not None else [] for v in values], type=pa.list_(pa.string()))
    if name == "embedding":
        return pa.array(values, type=pa.list_(pa.float32()))
    return pa.array(values)


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """The manifest as a list of dicts (JSON columns left as text)."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()
