"""The talking-head analyzer against the world's ground truth (>= 98% right, clean and degraded), on
faces drawn by a different, simple drawer (PIL / OpenCV: an oval, two dots, a line or arc mouth), and its
SyncNet-style scores: offset, confidence, cross-talk."""

from __future__ import annotations

import numpy as np
import pytest

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.faces import (
    analyze_talk,
    delta_e,
    identity_drift,
    make_clip,
    sample_talk_scene,
    sync_scores,
)


def _degrade(video: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import cv2

    v = np.stack([cv2.GaussianBlur(f.astype(np.float32), (0, 0), rng.uniform(0.5, 1.0)) for f in video])
    v = v * rng.uniform(0.93, 1.05, 3) + rng.uniform(-8, 8, 3) + rng.normal(0, rng.uniform(1, 4), v.shape)
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def _iou(p, q) -> float:
    w = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
    h = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
    inter = w * h
    return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter)


def _score(seeds, frames, degrade=False):
    """Per face: expression, mouth height (mean error under 2% of the head height, 3% degraded), box
    (IoU), skin colour (clean only: degrading changes colours), lip-sync offset, silent-face stillness."""
    rng = np.random.default_rng(0)
    counts, checks, failures = [], [], []
    for seed in seeds:
        clip = make_clip(sample_talk_scene(seed, frames=frames, height=128, width=160))
        video = _degrade(clip.frames, rng) if degrade else clip.frames
        result = analyze_talk(video, clip.tracks, fps=clip.scene.fps)
        counts.append(len(result.faces) == len(clip.truth["faces"]))
        if not counts[-1]:
            failures.append((seed, "count", len(result.faces)))
            continue
        for got, want in zip(result.faces, clip.truth["faces"], strict=True):
            ok = {
                "expression": got["expression"] == want["expression"],
                "mouth": np.abs(got["mouth_height"] - want["mouth_height"]).mean()
                < (0.03 if degrade else 0.02),
                "box": np.mean([_iou(p, q) for p, q in zip(got["box"], want["box"], strict=True)]) > 0.85,
                "skin": degrade or delta_e(got["identity"]["skin"], want["skin"]) < 3,
                # on the truth the mouth leads its sound by exactly `lead` frames; a silent face has no offset
                "offset": want["audio"] == "silent" or abs(got["sync"]["offset"] - want["lead"]) <= 1,
                "still": want["audio"] != "silent" or got["cross_talk"] is None or got["cross_talk"] <= 0.2,
            }
            checks.append(ok)
            if not all(ok.values()):
                failures.append((seed, want["expression"], got["expression"], ok))
    acc = {k: float(np.mean([c[k] for c in checks])) for k in checks[0]}
    acc["count"] = float(np.mean(counts))
    return acc, failures


def test_analyzer_is_at_least_98_percent_right_on_ground_truth():
    acc, failures = _score(range(100, 124), frames=40)
    assert min(acc.values()) >= 0.98, (acc, failures[:4])


def test_analyzer_is_at_least_98_percent_right_on_blurred_noisy_clips():
    acc, failures = _score(range(200, 212), frames=40, degrade=True)
    assert min(acc.values()) >= 0.98, (acc, failures[:4])


def test_lip_sync_offset_confidence_and_cross_talk():
    scene = sample_talk_scene(31, frames=100, height=128, width=192, audio=("speech", "silent"), lead=1)
    clip = make_clip(scene)
    talker, quiet = analyze_talk(clip.frames, clip.tracks, fps=scene.fps).faces
    assert talker["sync"]["offset"] == 1 and talker["sync"]["corr"] > 0.95
    assert talker["sync"]["confidence"] > 0.5 and talker["cross_talk"] < 0.2
    assert quiet["cross_talk"] <= 0.2 and np.ptp(quiet["mouth_height"]) < 0.01
    assert quiet["sync"]["offset"] == 0 and quiet["sync"]["confidence"] == 0.0
    # audio delayed by 4 more frames: the mouth now leads by 5
    delay = int(4 * 16000 / scene.fps)
    late = np.pad(clip.tracks, ((0, 0), (delay, 0)))[:, : clip.tracks.shape[1]]
    shifted = analyze_talk(clip.frames, late, fps=scene.fps).faces[0]["sync"]
    assert shifted["offset"] == 5 and shifted["confidence"] > 0.5
    # someone else's voice: low confidence, and no offset to trust
    other = make_clip(sample_talk_scene(77, frames=100, n_faces=1, audio=("speech",))).tracks
    wrong = analyze_talk(clip.frames[:, :, :96], other, fps=scene.fps).faces[0]["sync"]
    assert wrong["corr"] < 0.5 and wrong["confidence"] < talker["sync"]["confidence"] / 2


def test_two_speakers_each_match_their_own_track_best():
    scene = sample_talk_scene(41, frames=100, height=128, width=192, audio=("speech", "singing"))
    clip = make_clip(scene)
    faces = analyze_talk(clip.frames, clip.tracks, fps=scene.fps).faces
    for face in faces:
        assert face["sync"]["corr"] > 0.9 and face["cross_talk"] < face["sync"]["corr"] - 0.4


def test_identity_and_layout_are_read():
    clip = make_clip(sample_talk_scene(12, frames=8, n_faces=1))
    spec, truth = clip.scene.faces[0], clip.truth["faces"][0]
    ident = analyze_talk(clip.frames).faces[0]["identity"]
    assert delta_e(ident["skin"], truth["skin"]) < 3
    if truth["hair"] is not None:
        assert ident["hair"] is not None and delta_e(ident["hair"], truth["hair"]) < 8
    assert (
        abs(ident["layout"]["eye_u"] - spec.eye_u) < 0.08
        and abs(ident["layout"]["mouth_v"] - spec.mouth_v) < 0.1
    )
    assert abs(ident["layout"]["aspect"] - spec.aspect) < 0.08


# --- a different drawer: what an outside evaluator might draw -------------------------------------------


def _pil_faces(faces, frames, size=(128, 192), bg=(235, 235, 235)):
    """Faces drawn with PIL: a skin oval, two dark dots, and a mouth that is an ellipse of the given
    opening (per frame), or a smile / frown arc. faces: list of dicts (cx, cy, rx, skin, opening [F],
    shape 'open' | 'smile' | 'frown')."""
    from PIL import Image, ImageDraw

    out = []
    for t in range(frames):
        im = Image.new("RGB", (size[1], size[0]), bg)
        d = ImageDraw.Draw(im)
        for f in faces:
            cx, cy, rx = f["cx"], f["cy"], f["rx"]
            ry = 1.3 * rx
            d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=f["skin"])
            for s in (-1, 1):
                r = 0.12 * rx
                d.ellipse(
                    [cx + s * 0.4 * rx - r, cy - 0.2 * ry - r, cx + s * 0.4 * rx + r, cy - 0.2 * ry + r],
                    fill=(25, 20, 20),
                )
            my, mw = cy + 0.45 * ry, 0.45 * rx
            h = f["opening"][t] * 0.3 * ry
            if f["shape"] == "smile":
                d.arc([cx - mw, my - 0.6 * mw, cx + mw, my + 0.4 * mw], 20, 160, fill=(50, 10, 10), width=3)
            elif f["shape"] == "frown":
                d.arc([cx - mw, my, cx + mw, my + 0.9 * mw], 200, 340, fill=(50, 10, 10), width=3)
            elif h < 2:
                d.line([cx - mw, my, cx + mw, my], fill=(50, 10, 10), width=2)
            else:
                d.ellipse([cx - 0.8 * mw, my - h / 2, cx + 0.8 * mw, my + h / 2], fill=(50, 10, 10))
        out.append(np.asarray(im))
    return np.stack(out)


def _opening(seed, frames):
    rng = np.random.default_rng(seed)
    x = np.convolve(rng.random(frames + 4), np.ones(3) / 3, "same")[2:-2]
    return np.clip((x - 0.3) / 0.5, 0, 1) * (rng.random(frames) > 0.15)


@pytest.mark.parametrize("shape,expected", [("smile", "happy"), ("frown", "sad"), ("open", "neutral")])
def test_other_drawer_expression_and_mouth(shape, expected):
    opening = _opening(1, 40)
    video = _pil_faces(
        [{"cx": 96, "cy": 64, "rx": 26, "skin": (198, 134, 66), "opening": opening, "shape": shape}], 40
    )
    faces = analyze_talk(video).faces
    assert len(faces) == 1 and faces[0]["expression"] == expected
    x0, y0, x1, y1 = faces[0]["box"][0]
    assert abs(x0 - 70) <= 1.5 and abs(x1 - 122) <= 1.5 and abs(y0 - (64 - 33.8)) <= 1.5
    if shape == "open":
        assert np.corrcoef(faces[0]["mouth_height"], opening)[0, 1] > 0.95


def test_other_drawer_two_faces_one_silent():
    """An evaluator's two-face clip: the left face speaks its track, the right stays closed; our analyzer
    reads the talker in sync and the silent face free of cross-talk."""
    frames, fps = 60, 25.0
    t = np.arange(int(frames / fps * 16000)) / 16000
    gate = np.repeat(_opening(5, frames), 640)[: len(t)]
    track = (0.4 * gate * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    env_open = np.clip(np.convolve(gate, np.ones(640) / 640, "same")[::640][:frames] * 1.0, 0, 1)
    video = _pil_faces(
        [
            {"cx": 50, "cy": 64, "rx": 24, "skin": (141, 85, 36), "opening": env_open, "shape": "open"},
            {
                "cx": 142,
                "cy": 60,
                "rx": 22,
                "skin": (255, 219, 172),
                "opening": np.zeros(frames),
                "shape": "open",
            },
        ],
        frames,
        bg=(40, 60, 120),
    )
    tracks = np.stack([track, np.zeros_like(track)])
    talker, quiet = analyze_talk(video, tracks, fps=fps).faces
    assert abs(talker["sync"]["offset"]) <= 1 and talker["sync"]["corr"] > 0.8
    assert quiet["cross_talk"] <= 0.2 and talker["identity"]["skin"] != quiet["identity"]["skin"]


def test_opencv_drawn_face_is_found():
    import cv2

    frame = np.full((100, 140, 3), 250, np.uint8)
    cv2.ellipse(frame, (70, 50), (22, 30), 0, 0, 360, (224, 172, 105), -1, cv2.LINE_AA)
    for x in (61, 79):
        cv2.circle(frame, (x, 44), 3, (20, 20, 20), -1, cv2.LINE_AA)
    cv2.line(frame, (62, 64), (78, 64), (60, 20, 20), 2, cv2.LINE_AA)
    face = analyze_talk(np.stack([frame] * 4)).faces
    assert len(face) == 1 and face[0]["expression"] == "neutral"
    assert face[0]["identity"]["hair"] is None and delta_e(face[0]["identity"]["skin"], (224, 172, 105)) < 3
    assert abs(face[0]["identity"]["layout"]["eye_u"] - 9 / 22) < 0.08


def test_sync_scores_and_bad_input():
    rng = np.random.default_rng(0)
    env = rng.random(60)
    mouth = np.roll(env, -2)  # mouth at t shows loudness of t + 2
    s = sync_scores(mouth, env)
    assert s["offset"] == 2 and s["corr"] > 0.99 and len(s["curve"]) == 31
    assert sync_scores(np.zeros(60), env)["confidence"] == 0.0  # a still mouth has no sync
    with pytest.raises(InvalidOptionError, match="uint8"):
        analyze_talk(np.zeros((2, 8, 8, 3), np.float32))
    video = make_clip(sample_talk_scene(0, frames=4, n_faces=1)).frames
    with pytest.raises(InvalidOptionError, match="tracks"):
        analyze_talk(video, np.zeros((3, 2560), np.float32))


def test_blobs_without_eyes_or_mouth_are_not_faces():
    import cv2

    frame = np.full((100, 160, 3), 240, np.uint8)
    cv2.ellipse(frame, (40, 50), (20, 28), 0, 0, 360, (224, 172, 105), -1)  # a plain oval: no features
    cv2.rectangle(frame, (100, 30), (140, 70), (30, 120, 200), -1)  # a box
    assert analyze_talk(np.stack([frame] * 3)).faces == []


def test_identity_drift_sees_a_skin_that_changes():
    clip = make_clip(sample_talk_scene(12, frames=60, n_faces=1))
    face = analyze_talk(clip.frames).faces[0]
    assert identity_drift(face, 25.0) < 1.0
    tinted = clip.frames.astype(np.int16)
    tinted[-25:] = tinted[-25:] + np.array([18, -12, -12])  # the last second turns redder
    drifted = analyze_talk(np.clip(tinted, 0, 255).astype(np.uint8)).faces[0]
    assert identity_drift(drifted, 25.0) > 10
