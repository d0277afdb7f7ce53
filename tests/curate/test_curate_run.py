"""End to end: a folder of real video files with known defects -> manifest, failures, report; resume; Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import curate_synth as cs
import pytest

from vitascope.curate.caption import FIELDS
from vitascope.curate.config import CAMERA_MOTIONS, config_from_dict
from vitascope.curate.manifest import REQUIRED_COLUMNS, read_manifest
from vitascope.curate.runner_local import run_local

# The test clips are 160x96, so the stage datasets are scaled down; everything else is the default.
CFG = config_from_dict(
    {
        "embed": {"clusters": 3},
        "dataset": {
            "stages": [
                {"name": "96p", "min_short_side": 64, "min_duration_s": 1.0},
                {"name": "96p-hq", "min_short_side": 90, "min_duration_s": 1.0, "min_sharpness": 2500.0},
            ]
        },
    }
)
SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("curate_in")
    return root, cs.build_folder(root)


@pytest.fixture(scope="module")
def local_run(folder, tmp_path_factory):
    root, _ = folder
    out = tmp_path_factory.mktemp("curate_out")
    return out, run_local(root, out, CFG)


def _by_source(records):
    out = {}
    for r in records:
        out.setdefault(r["source"], []).append(r)
    return out


def test_each_defect_is_caught_by_its_stage(folder, local_run):
    _, expected = folder
    out, _ = local_run
    rows = _by_source(read_manifest(out / "manifest.parquet"))
    for source, reason in expected.items():
        if reason in (None, "duplicate"):
            continue
        (row,) = rows[source]
        assert reason in row["reasons"], (source, row["reasons"])
    # the two identical files: exactly one survives, the other names it
    (a,), (b,) = rows["clean.mp4"], rows["clean_copy.mp4"]
    survivor, dup = (a, b) if a["kept"] else (b, a)
    assert survivor["kept"] and survivor["reasons"] == []
    assert not dup["kept"] and dup["reasons"] == ["duplicate"] and dup["duplicate_of"] == survivor["clip_id"]
    # flagged clips stay in, with their crop applied
    (lb,) = rows["letterboxed.mp4"]
    assert lb["kept"] and json.loads(lb["crop"])[1] >= 12
    (sub,) = rows["subtitled.mp4"]
    assert sub["kept"] and json.loads(sub["crop"])[3] < cs.H * 0.85
    (wm,) = rows["watermarked.mp4"]
    assert wm["kept"] and json.loads(wm["watermark_box"])[0] > 0.6
    for source in ("blurred.mp4", "dark.mp4", "static.mp4"):
        assert not rows[source][0]["kept"]


def test_manifest_columns_shots_and_captions(local_run):
    out, result = local_run
    records = read_manifest(out / "manifest.parquet")
    assert list(records[0])[: len(REQUIRED_COLUMNS)] == list(REQUIRED_COLUMNS)
    shots = [r for r in records if r["source"] == str(Path("sub") / "three_shots.mp4")]
    assert [round(r["shot_start"] * cs.FPS) for r in shots] == pytest.approx([0, 30, 58], abs=2)
    for r in records:
        assert isinstance(r["reasons"], list) and isinstance(r["kept"], bool)
        assert r["end"] > r["start"] >= 0
        assert r["camera_motion"] in CAMERA_MOTIONS
        caption = json.loads(r["caption"])
        assert list(caption) == list(FIELDS)
        assert caption["Camera Movement"].lower() == r["camera_motion"]
    kept = [r for r in records if r["kept"]]
    assert len(kept) == 7  # clean, letterboxed, subtitled, watermarked, three shots
    assert sum(r["sample_weight"] for r in kept) == pytest.approx(len(kept))
    assert all(r["stages"] and r["stages"][0] == "96p" and r["bucket"] for r in kept)
    assert any("96p-hq" not in r["stages"] for r in kept)  # the stricter stage is a strict subset here
    assert result.summary["kept"] == 7 and result.summary["failed_inputs"] == 2


def test_unreadable_inputs_are_recorded_and_the_run_goes_on(local_run):
    out, _ = local_run
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert [f["source"] for f in failures] == ["corrupt.mp4", "truncated.mp4"]
    assert all(f["error"] for f in failures)
    sources = {r["source"] for r in read_manifest(out / "manifest.parquet")}
    assert "corrupt.mp4" not in sources and "notes.txt" not in sources and "clean.mp4" in sources


def test_report_has_counts_and_histograms(local_run):
    out, _ = local_run
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["rejected_by_stage"]["8 dedup"] == 1
    assert summary["reasons"]["blurry"] >= 1 and summary["clips"] == 11
    assert set(summary["clips_per_second_per_stage"]) >= {"decode", "quality", "motion", "text"}
    pngs = sorted(p.name for p in (out / "report").glob("*.png"))
    assert "hist_sharpness.png" in pngs and "bar_reasons.png" in pngs
    assert (out / "report" / "hist_speed.png").read_bytes()[:4] == b"\x89PNG"
    assert "| blurry |" in (out / "report" / "report.md").read_text()


def test_cli_rerun_on_finished_output_redoes_nothing(folder, local_run, tmp_path):
    import typer
    from typer.testing import CliRunner

    from vitascope.curate.command import curate

    root, _ = folder
    out, _ = local_run
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(CFG.to_dict()))
    before = {p.name: p.stat().st_mtime_ns for p in (out / "work" / "clips").iterdir()}
    manifest = read_manifest(out / "manifest.parquet")
    app = typer.Typer()
    app.command()(curate)
    res = CliRunner().invoke(app, [str(root), "--out", str(out), "--config", str(cfg_file)])
    assert res.exit_code == 0, res.output
    assert "7 kept" in res.output and "manifest:" in res.output
    assert {p.name: p.stat().st_mtime_ns for p in (out / "work" / "clips").iterdir()} == before
    assert read_manifest(out / "manifest.parquet") == manifest
    bad = CliRunner().invoke(app, [str(root), "--out", str(out), "--runner", "spark"])
    assert bad.exit_code != 0 and "runner" in str(bad.exception)


def test_rerun_with_other_per_clip_settings_is_refused_not_mixed(folder, local_run):
    from vitascope.errors import InvalidOptionError

    root, _ = folder
    out, _ = local_run
    stricter = config_from_dict({**CFG.to_dict(), "quality": {"min_contrast": 30.0}})
    with pytest.raises(InvalidOptionError, match=r"quality\.min_contrast changed.*new --out"):
        run_local(root, out, stricter)
    # Stage-dataset thresholds are applied by the global step only: a rerun re-uses every clip.
    before = {p.name: p.stat().st_mtime_ns for p in (out / "work" / "clips").iterdir()}
    relaxed = config_from_dict(
        {
            **CFG.to_dict(),
            "dataset": {"stages": [{"name": "any", "min_short_side": 16, "min_duration_s": 0.5}]},
        }
    )
    res = run_local(root, out, relaxed)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "work" / "clips").iterdir()} == before
    assert {tuple(r["stages"]) for r in res.records if r["kept"]} == {("any",)}
    run_local(root, out, CFG)  # back to the module's settings for the tests that follow


def test_killed_run_resumes_without_redoing_finished_clips(folder, local_run, tmp_path):
    root, _ = folder
    out = tmp_path / "out"
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(CFG.to_dict()))
    code = (
        "from vitascope.curate.config import load_config; from vitascope.curate.runner_local import run_local; "
        f"run_local({str(root)!r}, {str(out)!r}, load_config({str(cfg_file)!r}))"
    )
    env = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.DEVNULL)
    clips_dir = out / "work" / "clips"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(clips_dir.glob("*.json"))) < 3:
        assert proc.poll() is None, "the run finished before it could be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in clips_dir.glob("*.json")}
    assert 3 <= len(finished) < 11 and not (out / "manifest.parquet").exists()

    run_local(root, out, CFG, workers=2)
    for name, (mtime, text) in finished.items():
        assert (clips_dir / name).stat().st_mtime_ns == mtime and (clips_dir / name).read_text() == text
    assert len(list(clips_dir.glob("*.json"))) == 11
    assert read_manifest(out / "manifest.parquet") == read_manifest(local_run[0] / "manifest.parquet")


@pytest.mark.timeout(300)
def test_ray_runner_gives_the_same_manifest(folder, local_run, tmp_path):
    ray = pytest.importorskip("ray")
    from vitascope.curate.runner_ray import run_ray

    root, _ = folder
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = run_ray(root, tmp_path / "ray_out", CFG, workers=2)
    finally:
        ray.shutdown()
    assert read_manifest(tmp_path / "ray_out" / "manifest.parquet") == read_manifest(
        local_run[0] / "manifest.parquet"
    )
    assert (tmp_path / "ray_out" / "failures.jsonl").read_text() == (
        local_run[0] / "failures.jsonl"
    ).read_text()
    assert result.summary["kept"] == 7
