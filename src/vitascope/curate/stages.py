"""The curation stages over manifest records, shared by the local and the Ray runner.

Two per-item functions do the work and persist their result before returning, which makes them idempotent:
`process_source` (stage 1: probe + shot split of one input file) and `process_clip` (stages 2-9 for one
clip: sharpest start, quality, borders, motion, text, overlays, people, embedding, caption). `finish` then
runs the stages that need all clips at once (dedup, concept balance, stage datasets) and writes the outputs.

Cheap filters run first; OCR, the people detectors and a VLM captioner are skipped for clips that cheaper
stages already rejected (their columns stay empty), which is where most of the time goes.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from vitascope.curate import caption as cap
from vitascope.curate import embed as emb
from vitascope.curate.config import CaptionConfig, CurateConfig, EmbedConfig
from vitascope.curate.datasets import assign_stages
from vitascope.curate.manifest import WorkDir, read_json, write_failures, write_json, write_manifest
from vitascope.curate.motion import analyse_motion, motion_rejects
from vitascope.curate.overlays import find_overlay, overlay_crop
from vitascope.curate.people import analyse_people, people_rejects
from vitascope.curate.quality import crop_frames, detect_borders, measure_quality, quality_rejects
from vitascope.curate.split import clips_from_shots, detect_cuts, sharpest_start, shots_from_cuts
from vitascope.curate.text import analyse_text, text_decision
from vitascope.curate.video import analysis_shape, decode_segment, even_indices, luma, probe

log = logging.getLogger(__name__)


def list_inputs(input_dir: str | Path, cfg: CurateConfig) -> list[str]:
    """Video files under input_dir (recursive), as sorted paths relative to it."""
    root = Path(input_dir)
    exts = {e.lower() for e in cfg.extensions}
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts
    )


def process_source(input_dir: str, rel: str, out: str, cfg: CurateConfig) -> dict[str, Any]:
    """Stage 1 for one input file: probe, detect shots, cut into clips. Cached in OUT/work/sources."""
    work = WorkDir(out)
    path = work.source_path(rel)
    done = read_json(path)
    if done is not None:
        return done
    t0 = time.perf_counter()
    try:
        info = probe(Path(input_dir) / rel)
        cuts = detect_cuts(Path(input_dir) / rel, cfg.split)
        clips = clips_from_shots(rel, info, shots_from_cuts(cuts, info["n_frames"]), cfg.split)
        result = {"source": rel, "status": "ok", "info": info, "cuts": cuts, "clips": clips}
    except Exception as e:  # any unreadable input is recorded, never fatal
        log.warning("cannot read %s: %s", rel, e)
        result = {"source": rel, "status": "failed", "error": f"{type(e).__name__}: {e}"}
    result["seconds"] = time.perf_counter() - t0
    return write_json(path, result)


@functools.lru_cache(maxsize=2)
def _embedder(cfg: EmbedConfig):
    return emb.make_embedder(cfg)


@functools.lru_cache(maxsize=2)
def _captioner(cfg: CaptionConfig):
    return cap.make_captioner(cfg)


def process_clip(input_dir: str, clip: dict[str, Any], out: str, cfg: CurateConfig) -> dict[str, Any]:
    """Stages 2-9 for one clip. Cached in OUT/work/clips; a clip that fails is recorded with its error."""
    work = WorkDir(out)
    path = work.clip_path(clip["clip_id"])
    done = read_json(path)
    if done is not None:
        return done
    t0 = time.perf_counter()
    rec = dict(clip)
    rec.setdefault("rejects", list(rec.pop("reject", [])))
    rec.setdefault("flags", [])
    if not rec["rejects"]:
        try:
            _analyse(Path(input_dir) / clip["source"], rec, cfg, rec.setdefault("timings", {}))
        except Exception as e:
            log.warning("clip %s failed: %s", rec["clip_id"], e)
            rec["rejects"].append("error")
            rec["error"] = f"{type(e).__name__}: {e}"
    rec["seconds"] = time.perf_counter() - t0
    return write_json(path, rec)


def _analyse(path: Path, rec: dict[str, Any], cfg: CurateConfig, timings: dict[str, float]) -> None:
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock[0]
        clock[0] = now

    fps, rejects, flags = rec["fps"], rec["rejects"], rec["flags"]
    size = analysis_shape(rec["width"], rec["height"], cfg.analysis_size)
    frames = decode_segment(path, rec["first_frame"], rec["last_frame"], fps, size)  # [F, h, w, 3]
    gray = luma(frames)  # [F, h, w] float32
    lap("decode")

    # 2. sharpest start frame, then trim
    k = sharpest_start(gray, fps, cfg.split)
    frames, gray = frames[k:], gray[k:]
    rec["start_frame"] = rec["first_frame"] + k
    rec["start"] = rec["start_frame"] / fps
    if len(frames) / fps < cfg.split.min_clip_s:
        rejects.append("too_short")
    lap("sharpest")

    # 3a. black borders -> crop box (fractions of the frame)
    idx = even_indices(len(frames), cfg.sample_frames)
    box = list(detect_borders(gray[idx], cfg.quality))
    if box != [0.0, 0.0, 1.0, 1.0]:
        flags.append("letterbox_cropped")
    lap("borders")

    # 3b. quality of the cropped picture
    q = measure_quality(crop_frames(frames[idx], box), crop_frames(gray, box), cfg.quality)
    rec.update(q)
    rejects += quality_rejects(q, cfg.quality)
    lap("quality")

    # 4. motion
    m = analyse_motion(crop_frames(gray, box).astype(np.uint8), fps, cfg.motion)
    rec.update(m)
    rejects += motion_rejects(m["speed"], cfg.motion)
    lap("motion")

    # 5. text (OCR is the slowest stage: only for clips still in)
    if cfg.text.enabled and not rejects:
        sample = crop_frames(frames[idx[even_indices(len(idx), cfg.text.frames)]], box)
        t = analyse_text(sample, cfg.text)
        t["text_boxes"] = [_to_frame(b, box) for b in t["text_boxes"]]
        rec.update(t)
        t_rej, t_flags, bottom = text_decision(t, cfg.text)
        rejects += t_rej
        flags += t_flags
        if bottom is not None:
            box = _cut_band(box, "bottom", bottom)
    lap("text")

    # 6. static overlays in the corners of the cropped picture (after the subtitle band is cut)
    ov = find_overlay(crop_frames(gray[idx], box).astype(np.uint8), cfg.overlay)
    rec["overlay_check"], rec["background_persistence"] = ov["overlay_check"], ov["background_persistence"]
    rec["watermark_box"] = _to_frame(ov["watermark_box"], box) if ov["watermark_box"] else None
    if rec["watermark_box"]:
        band = (
            overlay_crop(ov["watermark_box"], cfg.overlay.max_crop) if cfg.overlay.action == "crop" else None
        )
        flags.append("watermark_cropped" if band else "watermark")
        if band:
            box = _cut_band(box, *band)
    lap("overlay")

    # 7. people
    if cfg.people.enabled and not rejects:
        p = analyse_people(crop_frames(frames[idx[even_indices(len(idx), cfg.people.frames)]], box))
        rec.update(p)
        rejects += people_rejects(p, cfg.people)
    lap("people")

    # 8. embedding (dedup and clusters run later over all clips)
    final = crop_frames(frames[idx], box)
    rec["embedding"] = _embedder(cfg.embed)(final[even_indices(len(final), cfg.embed.frames)]).tolist()
    rec["palette"] = cap.palette(final[even_indices(len(final), 3)])
    lap("embed")

    # 9. structured caption (a model captioner only for clips still in)
    rec["crop"] = _to_pixels(box, rec["width"], rec["height"])
    if not rejects or cfg.caption.captioner == "builtin":
        c = cap.with_sidecar(_captioner(cfg.caption)(rec, final), path)
        rec["caption"] = c
        rec["caption_variants"] = cap.caption_variants(
            c, cfg.caption.variants, cfg.caption.field_dropout, cfg.caption.seed, rec["clip_id"]
        )
    lap("caption")


def _to_frame(b: list[float], box: list[float]) -> list[float]:
    """A box in fractions of the cropped picture -> fractions of the full frame."""
    w, h = box[2] - box[0], box[3] - box[1]
    return [box[0] + b[0] * w, box[1] + b[1] * h, box[0] + b[2] * w, box[1] + b[3] * h]


def _cut_band(box: list[float], side: str, edge: float) -> list[float]:
    """Cut the crop box at `edge` (a fraction of the cropped picture) from the top or the bottom."""
    h = box[3] - box[1]
    if side == "top":
        return [box[0], box[1] + edge * h, box[2], box[3]]
    return [box[0], box[1], box[2], box[1] + edge * h]


def _to_pixels(box: list[float], width: int, height: int) -> list[int]:
    return [int(round(box[0] * width)), int(round(box[1] * height)), int(round(box[2] * width)),
            int(round(box[3] * height))]  # fmt: skip


def finish(out: str | Path, sources: list[dict[str, Any]], clips: list[dict[str, Any]], cfg: CurateConfig):
    """Global stages (8 dedup + balance, 10 stage datasets) and the outputs: manifest, failures, report."""
    from vitascope.curate.report import write_report

    work = WorkDir(out)
    records = sorted((dict(c) for c in clips), key=lambda r: r["clip_id"])
    for r in records:
        r["reasons"] = list(r.get("rejects", [])) + list(r.get("flags", []))
        r["kept"] = not r.get("rejects")
        r["duration"] = r["end"] - r["start"]
        r.setdefault("camera_motion", None)
        r.setdefault("caption", None)
    emb.deduplicate(records, cfg.embed.dedup_threshold)
    emb.balance_clusters(records, cfg.embed.clusters, cfg.embed.balance_power)
    for r in records:
        assign_stages(r, cfg.dataset)
        r.pop("timings", None), r.pop("seconds", None)  # run-dependent: kept in the per-clip files only
    failures = [
        {"source": s["source"], "error": s["error"]} for s in sorted(sources, key=lambda s: s["source"])
        if s["status"] != "ok"
    ]  # fmt: skip
    write_manifest(work.manifest_path, records)
    write_failures(work.failures_path, failures)
    summary = write_report(work.report, sources, records, failures, [c.get("timings") or {} for c in clips])
    return records, failures, summary
