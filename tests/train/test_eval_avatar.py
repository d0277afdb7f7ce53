"""`eval --task avatar`'s measures: a clip whose mouths follow their voices meets every target, a clip whose
mouth ignores its voice does not; cases are held out and deterministic; the command runs on a tiny folder."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vitascope.synthetic.faces.audio import loudness
from vitascope.synthetic.faces.avatar_eval import (
    AvatarCase,
    avatar_cases,
    avatar_table,
    clip_table,
    score_clip,
    summarize,
)
from vitascope.synthetic.faces.cartoon import draw_cartoon, draw_cartoon_video, sample_cartoon

FPS = 25


def _two_face_case(seconds=2.4, size=64):
    rng = np.random.default_rng(5)
    faces, bg = sample_cartoon(11, 2, size, 2 * size)
    from vitascope.synthetic.faces.audio import make_track

    samples = int(seconds * 16000)
    tracks = np.stack([make_track("speech", 3, samples), np.zeros(samples, np.float32)])
    photo = draw_cartoon(faces, bg, size, 2 * size)
    case = AvatarCase("t", "drawn-2", photo, tracks, [True, False], int(rng.integers(9)), "speech")
    return case, faces, bg


def test_mouths_that_follow_their_voices_meet_the_targets():
    case, faces, bg = _two_face_case()
    frames = int(len(case.tracks[0]) / 16000 * FPS)
    env = loudness(case.tracks[0], FPS, frames + 1)[1:]  # the mouth leads its sound by one frame
    good = draw_cartoon_video(faces, bg, 64, 128, np.stack([env, np.zeros(frames)]))
    row = score_clip(good, case.photo, case, FPS, emotion="neutral")
    assert row["faces_found"] == 2 and row["expressions"] == ["neutral", "neutral"]
    (s,) = row["speaking"]
    assert abs(s["offset"]) <= 1 and s["corr"] > 0.9 and s["confidence"] > 0.3
    assert row["silent"][0]["cross_talk"] <= 0.2 and row["psnr"] >= 26
    summary = summarize([row], row)
    assert summary["sync_ok"] == 1.0 and summary["expression"] == 1.0 and summary["identity_drift"] < 1
    table = avatar_table(summary)
    assert "| no |" not in table and table.count("| yes |") == 7
    assert "0/2" not in clip_table([row])

    rng = np.random.default_rng(1)
    ignoring = draw_cartoon_video(
        faces, bg, 64, 128, np.stack([rng.random(frames), env])
    )  # wrong mouth moves
    bad = score_clip(ignoring, case.photo, case, FPS)
    assert summarize([bad], None)["sync_ok"] == 0.0
    assert bad["silent"][0]["cross_talk"] > 0.9  # the silent face mouths the other voice
    assert "| no |" in avatar_table(summarize([bad], None))


def test_cases_are_deterministic_and_not_the_training_stream():
    a, b = avatar_cases(3, 7, 1.0, 64), avatar_cases(3, 7, 1.0, 64)
    assert [c.kind for c in a] == ["drawn-1", "drawn-2", "world"]
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.photo, y.photo) and np.array_equal(x.tracks, y.tracks)
        assert len(x.tracks) == len(x.speaking) and any(x.speaking)
    assert a[1].photo.shape == (64, 128, 3) and sum(a[1].speaking) == 1
    assert not np.array_equal(avatar_cases(1, 8, 1.0, 64)[0].photo, a[0].photo)


@pytest.mark.slow
def test_eval_command_runs_on_a_tiny_folder(tmp_path):
    from pipelines.test_avatar_speakers import _run
    from vitascope.pipelines.tiny_avatar import write_tiny_avatar

    folder = write_tiny_avatar(tmp_path / "m", emotion=True)
    out = tmp_path / "eval"
    args = ["eval", "--task", "avatar", "--model", str(folder), "--clips", "2", "--seconds", "1",
            "--long-seconds", "0", "--steps", "1", "--emotion", "happy", "--out", str(out)]  # fmt: skip
    r = _run(*args)
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "avatar_results.json").read_text())
    assert [c["clip"] for c in report["clips"]] == ["000-drawn-1-speech", "001-drawn-2-speech"]
    assert report["summary"]["clips"] == 2 and "| figure | target | value | met |" in r.stdout
    assert (out / "clips" / "001-drawn-2-speech.mp4").stat().st_size > 0
    r = _run("eval", "--task", "avatar", "--model", str(folder), "--clips", "0")
    assert r.returncode != 0 and "error: --clips must be >= 1" in r.stderr


def _run(*args):
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "vitascope.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)


def test_emotion_all_asks_each_expression_in_turn():
    from vitascope.pipelines.avatar_eval import case_emotion
    from vitascope.pipelines.avatar_inputs import EMOTIONS

    asked = [case_emotion("all", i) for i in range(10)]
    assert asked[:4] == ["happy", "sad", "angry", "surprised"] and sorted(set(asked)) == sorted(EMOTIONS)
    assert asked[5:] == asked[:5]
    assert case_emotion("sad", 3) == "sad" and case_emotion(None, 0) is None
