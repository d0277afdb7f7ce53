"""The long-video measures on the world's own rendering (ground truth meets every target) and on damaged
copies (a seam, a tint, a shrinking object are caught)."""

import numpy as np

from vitascope.synthetic.long import analyze_long, score_long
from vitascope.synthetic.render import render
from vitascope.train.eval_long import TARGETS, drift, long_cases, long_table, seam_ratio, window_strip


def _truth():
    case = long_cases(1, 7, 169, 64, 64)[0]
    return case, render(case["spec"])


def test_ground_truth_meets_the_targets():
    case, video = _truth()
    score = score_long(analyze_long(video, wrap=True, background="black"), case["spec"])
    assert score["colour"] >= TARGETS["colour"] and score["shape"] >= TARGETS["shape"]
    assert score["motion"] == 1.0
    assert seam_ratio(video, list(range(9, 169, 8))) <= TARGETS["seam"]
    d = drift(video, 17)
    assert d["size_drift"] <= TARGETS["size_drift"] and d["colour_drift"] <= TARGETS["colour_drift"]


def test_damage_is_caught(tmp_path):
    _, video = _truth()
    seam = video.copy()
    seam[89:] = np.roll(seam[89:], 6, axis=2)  # a jump where a window starts
    assert seam_ratio(seam, [89]) > TARGETS["seam"]
    tinted = video.copy()
    tinted[-17:] = (tinted[-17:].astype(int) * 0.5).astype(np.uint8)
    assert drift(tinted, 17)["colour_drift"] > TARGETS["colour_drift"]
    shrunk = video.copy()
    shrunk[-17:, :, :32] = 0
    shrunk[-17:, :32] = 0
    rows = [{"colour": 1.0, "shape": 1.0, "motion": 1.0, "seam": 1.0, **drift(shrunk, 17)}]
    assert "| size_drift | <= 0.15 |" in long_table(rows) and "| no |" in long_table(rows)
    record = {"pixel_ranges": [[1, 16], [9, 24], [17, 32]]}
    assert window_strip(video, record, tmp_path / "strip.png").stat().st_size > 0
