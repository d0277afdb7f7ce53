"""The talking-head world: deterministic per seed, varied, sized as asked, mouths driven by their own
track (with the lead of real speech), silent faces closed-mouthed, clear errors for impossible scenes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.faces import (
    EXPRESSIONS,
    HAIR_STYLES,
    SAMPLE_RATE,
    SKINS,
    FaceSpec,
    TalkScene,
    loudness,
    make_clip,
    sample_talk_scene,
)


def test_same_seed_same_clip_and_other_seeds_differ():
    a = make_clip(sample_talk_scene(3, frames=20, height=96, width=128))
    b = make_clip(sample_talk_scene(3, frames=20, height=96, width=128))
    c = make_clip(sample_talk_scene(4, frames=20, height=96, width=128))
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.tracks, b.tracks)
    for fa, fb in zip(a.truth["faces"], b.truth["faces"], strict=True):
        assert np.array_equal(fa["box"], fb["box"]) and np.array_equal(fa["mouth_open"], fb["mouth_open"])
    assert not np.array_equal(a.frames, c.frames)


def test_scenes_vary_over_seeds():
    scenes = [sample_talk_scene(s, frames=1, height=160, width=240) for s in range(120)]
    faces = [f for sc in scenes for f in sc.faces]
    assert {len(sc.faces) for sc in scenes} == {1, 2, 3}
    assert {f.expression for f in faces} == set(EXPRESSIONS)
    assert {f.hair_style for f in faces} == set(HAIR_STYLES)
    assert len({f.skin for f in faces}) >= len(SKINS) - 1
    assert len({sc.background for sc in scenes}) >= 5
    assert {f.audio for f in faces} == {"speech", "singing", "silent"}  # espeak only when asked
    sizes = [f.head_h for f in faces]
    assert max(sizes) / min(sizes) > 1.5 and {f.eye_style for f in faces} == {"dot", "sclera"}


@pytest.mark.parametrize(
    "frames,height,width,fps", [(7, 96, 160, 30.0), (13, 120, 90, 12.5), (1, 64, 64, 25.0)]
)
def test_any_size_and_fps(frames, height, width, fps):
    clip = make_clip(sample_talk_scene(1, frames=frames, height=height, width=width, fps=fps, n_faces=1))
    assert clip.frames.shape == (frames, height, width, 3) and clip.frames.dtype == np.uint8
    samples = round(frames / fps * SAMPLE_RATE)
    assert clip.audio.shape == (samples,) and clip.audio.dtype == np.float32
    assert clip.tracks.shape == (1, samples) and np.abs(clip.audio).max() <= 1.0
    box = clip.truth["faces"][0]["box"]
    assert box.shape == (frames, 4)
    assert (box[:, :2] >= 0).all() and (box[:, 2] <= width).all() and (box[:, 3] <= height).all()


def test_mouth_follows_its_own_track_with_the_lead_of_real_speech():
    scene = sample_talk_scene(5, frames=60, n_faces=2, audio=("speech", "singing"), lead=2)
    clip = make_clip(scene)
    for face, track in zip(clip.truth["faces"], clip.tracks, strict=True):
        ahead = loudness(track, scene.fps, scene.frames + 2)[2:]
        assert face["lead"] == 2 and np.allclose(face["mouth_open"], ahead)
        assert face["mouth_open"].max() > 0.8 and face["mouth_open"].min() < 0.05  # opens and closes


def test_silent_face_keeps_its_mouth_closed_while_the_other_talks():
    scene = sample_talk_scene(8, frames=40, height=128, width=192, audio=("silent", "speech"))
    clip = make_clip(scene)
    quiet, talker = clip.truth["faces"]
    assert not clip.tracks[0].any() and (quiet["mouth_open"] == 0).all()
    assert talker["mouth_open"].std() > 0.2
    # the pixels agree: around the quiet mouth only head motion changes anything; the talker's changes more

    def mouth_change(i, face):
        spec = scene.faces[i]
        b = spec.head_h * scene.height / 2
        x = int(face["box"][0, 0] + (face["box"][0, 2] - face["box"][0, 0]) / 2)
        y = int(face["box"][0, 3] - b + spec.mouth_v * b)
        patch = clip.frames[:, y - int(0.2 * b) : y + int(0.3 * b), x - 3 : x + 4].astype(float)
        return patch.std(axis=0).mean()

    assert mouth_change(1, talker) > 3 * mouth_change(0, quiet)


def test_expressions_change_mouth_brows_and_eyes():
    base = sample_talk_scene(2, frames=1, n_faces=1, audio=("silent",), expressions=("neutral",))
    face = base.faces[0]
    pictures = {
        e: make_clip(dataclasses.replace(base, faces=(dataclasses.replace(face, expression=e),))).frames[0]
        for e in EXPRESSIONS
    }
    for e in EXPRESSIONS[1:]:
        assert (pictures[e] != pictures["neutral"]).any(axis=-1).sum() > 20, e


def test_blinks_and_head_motion():
    clip = make_clip(sample_talk_scene(0, frames=150, n_faces=1))  # 6 s
    face = clip.truth["faces"][0]
    assert (face["eyes_open"] < 0.5).any() and (face["eyes_open"] == 1).mean() > 0.8
    travel = np.ptp(face["box"][:, 0])  # small head motion: visible, but a fraction of the head
    assert 0.5 < travel < 0.2 * (face["box"][0, 2] - face["box"][0, 0])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"expressions": ("bored",)}, "expression"),
        ({"audio": ("speech", "shouting")}, "audio kind"),
        ({"n_faces": 4}, "1 to 3"),
        ({"height": 64, "width": 64, "n_faces": 3}, "do not fit"),
        ({"expressions": ("happy", "sad"), "n_faces": 1}, "2 expressions"),
        ({"fps": 0.5}, "fps"),
        ({"background": "plaid"}, "background"),
    ],
)
def test_impossible_scenes_raise_clear_errors(kwargs, match):
    with pytest.raises(InvalidOptionError, match=match):
        sample_talk_scene(0, **kwargs)


def test_spec_validation():
    with pytest.raises(InvalidOptionError, match="too small"):
        TalkScene((FaceSpec((0.5, 0.5), 0.2),), height=100)
    with pytest.raises(InvalidOptionError, match="skin"):
        FaceSpec((0.5, 0.5), 0.5, skin="green")


def test_dataset_samples_are_pure_functions_of_seed_and_index():
    from vitascope.synthetic.faces import TalkingDataset

    data = TalkingDataset(3, seed=5, frames=6, height=96, width=160, n_faces=2, audio=("speech", "silent"))
    a, b = (
        data[1],
        TalkingDataset(3, seed=5, frames=6, height=96, width=160, n_faces=2, audio=("speech", "silent"))[1],
    )
    assert (
        len(data) == 3 and np.array_equal(a["video"], b["video"]) and np.array_equal(a["tracks"], b["tracks"])
    )
    assert (
        a["video"].shape == (6, 96, 160, 3) and a["boxes"].shape == (2, 6, 4) and len(a["expressions"]) == 2
    )
    assert not np.array_equal(data[0]["video"], a["video"])
    assert not a["tracks"][1].any() and a["audio"].shape == (a["tracks"].shape[1],)
    with pytest.raises(IndexError):
        data[3]
    with pytest.raises(InvalidOptionError, match="do not fit"):
        TalkingDataset(2, height=64, width=64, n_faces=3)
