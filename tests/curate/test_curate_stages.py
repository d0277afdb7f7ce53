"""Each curation stage on real encoded video files with known defects."""

from __future__ import annotations

import json

import curate_synth as cs
import numpy as np
import pytest

from vitascope.curate.config import (
    CAMERA_MOTIONS,
    CurateConfig,
    MotionConfig,
    OverlayConfig,
    QualityConfig,
    SplitConfig,
    TextConfig,
    config_from_dict,
    load_config,
)
from vitascope.curate.motion import analyse_motion, motion_rejects
from vitascope.curate.overlays import find_overlay
from vitascope.curate.quality import detect_borders, measure_quality, quality_rejects
from vitascope.curate.split import clips_from_shots, detect_cuts, sharpest_start, shots_from_cuts
from vitascope.curate.stages import process_clip
from vitascope.curate.text import analyse_text, text_decision
from vitascope.curate.video import luma, probe
from vitascope.errors import InvalidOptionError
from vitascope.media import read_video


def _roundtrip(frames, tmp_path, name="v.mp4"):
    """Encode to H.264 and decode again, so every stage sees real compressed video."""
    path = cs.write(frames, tmp_path / name)
    decoded, fps = read_video(path)
    return decoded, fps, path


def test_shot_split_finds_cuts_within_two_frames(tmp_path):
    lengths = [30, 26, 40, 22]
    frames, truth = cs.with_cuts([1, 2, 3, 4], lengths)
    path = cs.write(frames, tmp_path / "cuts.mp4")
    cuts = detect_cuts(path, SplitConfig())
    assert len(cuts) == len(truth), (cuts, truth)
    for found, true in zip(cuts, truth, strict=True):
        assert abs(found - true) <= 2, (cuts, truth)
    info = probe(path)
    assert info["n_frames"] == sum(lengths) and info["codec"] == "h264"
    assert (info["width"], info["height"]) == (cs.W, cs.H) and info["fps"] == pytest.approx(cs.FPS)
    clips = clips_from_shots("cuts.mp4", info, shots_from_cuts(cuts, info["n_frames"]), SplitConfig())
    assert [c["shot"] for c in clips] == [0, 1, 2, 3]
    assert clips[1]["shot_start"] == pytest.approx(truth[0] / cs.FPS, abs=2 / cs.FPS)


def test_min_and_max_clip_duration():
    info = {"fps": 24.0, "width": 160, "height": 96, "codec": "h264", "duration": 20.0}
    cfg = SplitConfig(min_clip_s=1.0, max_clip_s=4.0)
    clips = clips_from_shots("a.mp4", info, [(0, 12), (12, 12 + 24 * 9)], cfg)
    assert clips[0]["reject"] == ["too_short"]  # half a second
    long = clips[1:]
    assert len(long) == 3  # 9 s cut into three 3 s chunks, none longer than 4 s
    assert all(c["end"] - c["start"] <= 4.0 for c in long)
    assert long[0]["start"] == pytest.approx(0.5) and long[-1]["end"] == pytest.approx(9.5)
    assert len({c["clip_id"] for c in clips}) == 4
    with pytest.raises(InvalidOptionError, match="max_clip_s"):
        SplitConfig(min_clip_s=3.0, max_clip_s=4.0)


def test_sharpest_start_skips_out_of_focus_frames(tmp_path):
    frames, fps, _ = _roundtrip(cs.sharp_after_blur(3, 30, blurred_frames=7), tmp_path)
    k = sharpest_start(luma(frames), fps, SplitConfig(sharp_search_s=0.5))
    assert 7 <= k <= 9
    sharp, fps, _ = _roundtrip(cs.pan_shot(3, 30), tmp_path, "sharp.mp4")
    assert sharpest_start(luma(sharp), fps, SplitConfig()) < 7


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda f: cs.blurred(f), "blurry"),
        (lambda f: cs.darkened(f), "underexposed"),
        (lambda f: np.clip(f.astype(int) * 3 + 120, 0, 255).astype(np.uint8), "overexposed"),
        (
            lambda f: np.clip(f + np.random.default_rng(0).normal(0, 30, f.shape), 0, 255).astype(np.uint8),
            "noisy",
        ),
        (lambda f: np.repeat(f[:1], len(f), 0), "frozen"),
        (lambda f: (128 + (f.astype(np.float32) - 128) * 0.15).astype(np.uint8), "low_contrast"),
        (lambda f: f, None),
    ],
    ids=["blurred", "dark", "overexposed", "noisy", "frozen", "flat", "clean"],
)
def test_quality_filters(tmp_path, make, reason):
    frames, _, _ = _roundtrip(make(cs.pan_shot(4, 24)), tmp_path)
    cfg = QualityConfig()
    q = measure_quality(frames[::3], luma(frames), cfg)
    rejects = quality_rejects(q, cfg)
    if reason is None:
        assert rejects == [], q
    else:
        assert reason in rejects, q


def test_letterbox_borders_detected_and_cropped(tmp_path):
    frames, _, _ = _roundtrip(cs.letterboxed(cs.pan_shot(9, 16), bar=14), tmp_path)
    x0, y0, x1, y1 = detect_borders(luma(frames[::2]), QualityConfig())
    assert (x0, x1) == (0.0, 1.0)
    assert abs(y0 * cs.H - 14) <= 2 and abs((1 - y1) * cs.H - 14) <= 2
    clean, _, _ = _roundtrip(cs.pan_shot(9, 16), tmp_path, "clean.mp4")
    assert detect_borders(luma(clean[::2]), QualityConfig()) == (0.0, 0.0, 1.0, 1.0)


def test_camera_motion_accuracy_on_rendered_shots(tmp_path):
    cfg = MotionConfig()
    results = []
    for seed in (0, 1):
        for kind in CAMERA_MOTIONS:
            frames, fps, _ = _roundtrip(cs.render_camera(kind, seed=seed), tmp_path, "cam.mp4")
            got = analyse_motion(luma(frames).astype(np.uint8), fps, cfg)["camera_motion"]
            results.append((kind, got))
    accuracy = np.mean([k == g for k, g in results])
    assert accuracy >= 0.9, [r for r in results if r[0] != r[1]]
    # the direction convention, spelled out: a pan left moves the scene right in the frame
    frames, fps, _ = _roundtrip(cs.render_camera("pan left"), tmp_path, "left.mp4")
    m = analyse_motion(luma(frames).astype(np.uint8), fps, cfg)
    assert m["motion_params"]["tx"] > 0 and m["camera_motion"] == "pan left"


def test_motion_speed_separates_static_from_moving(tmp_path):
    static, fps, _ = _roundtrip(np.repeat(cs.pan_shot(2, 1), 24, 0), tmp_path)
    moving, _, _ = _roundtrip(cs.pan_shot(2, 24, speed=2.0), tmp_path, "m.mp4")
    fast, _, _ = _roundtrip(cs.pan_shot(2, 24, speed=12.0), tmp_path, "f.mp4")
    cfg = MotionConfig()
    speeds = [analyse_motion(luma(f).astype(np.uint8), fps, cfg)["speed"] for f in (static, moving, fast)]
    assert speeds[0] < cfg.min_speed < speeds[1] < speeds[2]
    assert speeds[1] == pytest.approx(2.0 * fps / cs.W, rel=0.25)  # 2 px per frame in frame widths per second
    # the stage's decision on those speeds: static and too-fast clips are dropped, the moving one kept
    assert motion_rejects(speeds[0], cfg) == ["static"]
    assert motion_rejects(speeds[1], cfg) == []
    assert speeds[2] > cfg.max_speed and motion_rejects(speeds[2], cfg) == ["too_fast"]


def test_ocr_finds_subtitles_and_crops_their_band(tmp_path):
    frames, _, _ = _roundtrip(cs.subtitled(cs.pan_shot(10, 8)), tmp_path)
    cfg = TextConfig()
    t = analyse_text(frames[[0, 7]], cfg)
    rejects, flags, bottom = text_decision(t, cfg)
    assert flags == ["subtitles_cropped"] and rejects == []
    assert 0.6 < bottom < 0.9  # the band starts near the bottom of the frame
    assert text_decision(t, TextConfig(subtitle_action="drop"))[0] == ["subtitles"]
    clean, _, _ = _roundtrip(cs.pan_shot(10, 8), tmp_path, "clean.mp4")
    t_clean = analyse_text(clean[[0, 7]], cfg)
    assert t_clean["text_ratio"] == 0 and t_clean["subtitle_top"] is None


def test_text_heavy_frame_is_rejected(tmp_path):
    import cv2

    frames = cs.pan_shot(12, 4)
    for f in frames:
        for i, line in enumerate(("BREAKING NEWS", "Markets fall", "Live report")):
            cv2.putText(f, line, (8, 24 + 22 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    frames, _, _ = _roundtrip(frames, tmp_path)
    t = analyse_text(frames[:2], TextConfig())
    assert t["text_ratio"] > 0.03
    assert "too_much_text" in text_decision(t, TextConfig())[0]


def test_watermark_found_in_its_corner(tmp_path):
    frames, _, _ = _roundtrip(cs.watermarked(cs.pan_shot(11, 40)), tmp_path)
    gray = luma(frames[::5]).astype(np.uint8)
    ov = find_overlay(gray, OverlayConfig())
    assert ov["overlay_check"] == "found"
    x0, y0, x1, y1 = ov["watermark_box"]
    assert x0 > 0.6 and y1 < 0.35  # top-right corner
    clean, _, _ = _roundtrip(cs.pan_shot(11, 40), tmp_path, "clean.mp4")
    assert find_overlay(luma(clean[::5]).astype(np.uint8), OverlayConfig())["watermark_box"] is None
    still = np.repeat(clean[:1], 8, 0)  # a still picture: every edge persists, so no verdict
    assert find_overlay(luma(still).astype(np.uint8), OverlayConfig())["overlay_check"] == "skipped_static"


def test_process_clip_is_idempotent_and_records_errors(tmp_path):
    path = cs.write(cs.pan_shot(13, 30), tmp_path / "in" / "a.mp4")
    info = probe(path)
    clip = clips_from_shots("a.mp4", info, [(0, 30)], SplitConfig())[0]
    cfg = CurateConfig()
    out = str(tmp_path / "out")
    rec = process_clip(str(tmp_path / "in"), clip, out, cfg)
    assert rec["rejects"] == [] and rec["camera_motion"] == "pan right"
    caption = rec["caption"]
    assert caption["Camera Movement"] == "Pan right"
    stored = (tmp_path / "out" / "work" / "clips" / f"{clip['clip_id']}.json").stat().st_mtime_ns
    again = process_clip(str(tmp_path / "in"), clip, out, cfg)
    assert again == json.loads(json.dumps(rec))
    assert (tmp_path / "out" / "work" / "clips" / f"{clip['clip_id']}.json").stat().st_mtime_ns == stored
    broken = dict(clip, clip_id="broken", source="missing.mp4")
    bad = process_clip(str(tmp_path / "in"), broken, out, cfg)
    assert bad["rejects"] == ["error"] and "missing.mp4" in bad["error"]


def test_config_files_json_and_toml(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"motion": {"min_speed": 0.05}, "embed": {"clusters": 3}}))
    cfg = load_config(tmp_path / "c.json")
    assert cfg.motion.min_speed == 0.05 and cfg.embed.clusters == 3 and cfg.quality == QualityConfig()
    (tmp_path / "c.toml").write_text(
        '[text]\nsubtitle_action = "drop"\n[[dataset.stages]]\nname = "tiny"\nmin_short_side = 64\n'
        "min_duration_s = 1.0\n"
    )
    cfg = load_config(tmp_path / "c.toml")
    assert cfg.text.subtitle_action == "drop" and cfg.dataset.stages[0].name == "tiny"
    with pytest.raises(InvalidOptionError, match="unknown keys in config.motion"):
        config_from_dict({"motion": {"min_sped": 1}})
    with pytest.raises(InvalidOptionError, match="subtitle_action"):
        config_from_dict({"text": {"subtitle_action": "blur"}})
    with pytest.raises(InvalidOptionError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_colourfulness_filter_when_enabled(tmp_path):
    from vitascope.curate.quality import colourfulness

    colour, _, _ = _roundtrip(cs.pan_shot(4, 8), tmp_path)
    grey = np.repeat(luma(colour)[..., None], 3, -1).astype(np.uint8)
    assert colourfulness(grey) < 3 < 20 < colourfulness(colour)
    cfg = QualityConfig(min_colourfulness=10.0)
    assert "low_colourfulness" in quality_rejects(measure_quality(grey, luma(grey), cfg), cfg)
    assert "low_colourfulness" not in quality_rejects(measure_quality(colour, luma(colour), cfg), cfg)


def test_watermark_band_cropped_when_asked(tmp_path):
    path = cs.write(cs.watermarked(cs.pan_shot(11, 36)), tmp_path / "in" / "wm.mp4")
    clip = clips_from_shots("wm.mp4", probe(path), [(0, 36)], SplitConfig())[0]
    cfg = config_from_dict({"overlay": {"action": "crop"}, "text": {"enabled": False}})
    rec = process_clip(str(tmp_path / "in"), clip, str(tmp_path / "out"), cfg)
    assert "watermark_cropped" in rec["flags"] and rec["rejects"] == []
    assert rec["crop"][1] >= rec["watermark_box"][3] * cs.H - 1  # the crop starts below the logo
