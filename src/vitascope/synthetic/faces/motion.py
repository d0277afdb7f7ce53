"""Per-frame state of every face (mouth opening, blinks, head motion) and the clip's ground truth.

The mouth follows its own track's loudness, `lead` frames early (in real speech the lips move before the
sound: the frame-t mouth shows the loudness of frame t + lead). Blinks come every 2-5 s and last 0.15 s;
the head bobs on two slow sinusoids. All of it is drawn from the face's audio seed, so a scene is a pure
function of its spec.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vitascope.synthetic.faces.audio import loudness, make_track
from vitascope.synthetic.faces.world import (
    BACKGROUNDS,
    HAIRS,
    MOTION_PX,
    MOUTH_CLOSED,
    MOUTH_MAX_OPEN,
    SAMPLE_RATE,
    SKINS,
    FaceSpec,
    TalkScene,
    head_box,
)

BLINK_S = 0.15


@dataclasses.dataclass(frozen=True)
class FaceState:
    """One face over the clip: centre [F, 2] in pixels, mouth opening [F] in [0, 1], eye opening [F] in
    [0, 1] (0 closed), and the loudness of its track [F]."""

    centre: np.ndarray
    mouth: np.ndarray
    eyes: np.ndarray
    loudness: np.ndarray


def tracks(scene: TalkScene) -> np.ndarray:
    """Every face's audio, left to right: float32 [N, samples] at 16 kHz."""
    return np.stack([make_track(f.audio, f.audio_seed, scene.samples) for f in scene.faces])


def mix(audio_tracks: np.ndarray) -> np.ndarray:
    """The scene's mono soundtrack: the sum of the tracks, kept within [-1, 1]. [samples]"""
    out = audio_tracks.sum(axis=0)
    peak = float(np.abs(out).max()) if out.size else 0.0
    return (out / peak * 0.9 if peak > 0.9 else out).astype(np.float32)


def _blinks(rng: np.random.Generator, frames: int, fps: float) -> np.ndarray:
    t = np.arange(frames) / fps
    eyes = np.ones(frames)
    at = rng.uniform(0.3, 2.0)
    while at < t[-1] + BLINK_S:
        eyes = np.minimum(eyes, np.clip(np.abs(t - at) / (BLINK_S / 2.0), 0.0, 1.0))
        at += rng.uniform(2.0, 5.0)
    return eyes


def face_state(scene: TalkScene, face: FaceSpec, track: np.ndarray) -> FaceState:
    rng = np.random.default_rng([face.audio_seed, 7])
    loud = loudness(track, scene.fps, scene.frames + face.lead, SAMPLE_RATE)
    mouth = loud[face.lead :]
    t = np.arange(scene.frames) / scene.fps
    amp = MOTION_PX * face.head_h * scene.height
    motion = np.zeros((scene.frames, 2))
    for axis, scale in ((0, 1.0), (1, 0.6)):
        f1, f2 = rng.uniform(0.15, 0.5, 2)
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        motion[:, axis] = (
            scale * amp * (0.6 * np.sin(2 * np.pi * f1 * t + p1) + 0.4 * np.sin(2 * np.pi * f2 * t + p2))
        )
    centre = np.array([face.centre[0] * scene.width, face.centre[1] * scene.height]) + motion
    return FaceState(
        centre, mouth.astype(np.float64), _blinks(rng, scene.frames, scene.fps), loud[: scene.frames]
    )


def states(scene: TalkScene, audio_tracks: np.ndarray | None = None) -> list[FaceState]:
    audio_tracks = tracks(scene) if audio_tracks is None else audio_tracks
    return [face_state(scene, f, tr) for f, tr in zip(scene.faces, audio_tracks, strict=True)]


def mouth_height(face: FaceSpec, opening):
    """Mouth height at its middle as a fraction of the head height (what the analyzer measures)."""
    return (MOUTH_CLOSED + MOUTH_MAX_OPEN * np.asarray(opening)) / 2.0


def ground_truth(scene: TalkScene, face_states: list[FaceState]) -> dict:
    """Per face and frame: box (x0, y0, x1, y1) in pixels [F, 4], mouth opening [F] and mouth height over
    the head height [F], eye opening [F]; and per face expression, lead, audio kind and identity colours."""
    faces = []
    for face, st in zip(scene.faces, face_states, strict=True):
        x0, y0, x1, y1 = head_box(scene, face)
        box = np.stack(
            [st.centre[:, 0] + x0, st.centre[:, 1] + y0, st.centre[:, 0] + x1, st.centre[:, 1] + y1], 1
        )
        faces.append(
            {
                "box": box,
                "mouth_open": st.mouth,
                "mouth_height": mouth_height(face, st.mouth),
                "eyes_open": st.eyes,
                "loudness": st.loudness,
                "expression": face.expression,
                "lead": face.lead,
                "audio": face.audio,
                "skin": SKINS[face.skin],
                "hair": None if face.hair_style == "bald" else HAIRS[face.hair],
                "layout": {
                    "eye_u": face.eye_u,
                    "eye_v": face.eye_v,
                    "mouth_v": face.mouth_v,
                    "aspect": face.aspect,
                },
            }
        )
    return {
        "faces": faces,
        "background": BACKGROUNDS[scene.background],
        "fps": scene.fps,
        "frames": scene.frames,
    }
