"""The Avatar pipeline's inputs beyond one photo and one voice: several voices, their faces, an emotion.

voices   one path/array, or a list (one per face, left to right or in --face-box order) -> tracks [N, S]
         (16 kHz mono, zero-padded to the longest); the mp4 gets their mix (`mix_tracks`)
boxes    None, one (x, y, w, h), or one per voice
emotion  a bundled name (`EMOTIONS`: images of the talking-head world in assets/emotions/) or an image
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from vitascope.errors import InputFileError, InvalidOptionError

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised")
MAX_SPEAKERS = 4
SAMPLE_RATE = 16000


def voice_list(audio) -> list:
    """The voices of `AvatarOptions.audio`: a list of paths or sample arrays (one voice is a list of one)."""
    if isinstance(audio, (list, tuple)):
        return list(audio)
    return [audio]


def box_list(face_box) -> list[tuple[float, ...]] | None:
    """None, or the boxes of `AvatarOptions.face_box`: one box (x, y, w, h) or a sequence of boxes."""
    if face_box is None:
        return None
    boxes = [face_box] if len(face_box) == 4 and np.isscalar(face_box[0]) else list(face_box)
    out = []
    for b in boxes:
        if len(b) != 4:
            raise InvalidOptionError(f"a face box is x, y, w, h (4 numbers), got {b!r}")
        out.append(tuple(float(v) for v in b))
    return out


def describe(source) -> str:
    return str(source) if isinstance(source, (str, Path)) else f"<array {np.shape(source)}>"


def read_tracks(audio, max_seconds: float | None = None) -> np.ndarray:
    """float32 [N, S]: every voice decoded (16 kHz mono) and zero-padded to the longest. One voice must not
    be silent; of several, one may be (that face keeps still) but not all."""
    from vitascope.media_audio import read_audio

    voices = voice_list(audio)
    several = len(voices) > 1
    tracks = []
    for v in voices:
        if isinstance(v, (str, Path)):
            tracks.append(read_audio(v, max_seconds=max_seconds, allow_silent=several))
        else:
            tracks.append(np.asarray(v, dtype=np.float32).reshape(-1))
    if several and not any(np.abs(t).max(initial=0.0) > 1e-4 for t in tracks):
        raise InputFileError("every audio track is silent; at least one voice must speak")
    n = max(len(t) for t in tracks)
    return np.stack([np.pad(t, (0, n - len(t))) for t in tracks]).astype(np.float32)


def mix_tracks(tracks: np.ndarray) -> np.ndarray:
    """[N, S] -> [S]: the sum, scaled down only where it would clip (peak over 1)."""
    mix = tracks.sum(axis=0)
    peak = float(np.abs(mix).max(initial=0.0))
    return (mix / peak if peak > 1.0 else mix).astype(np.float32)


def check_emotion(emotion: str | None, emotion_image) -> None:
    if emotion is not None and emotion_image is not None:
        raise InvalidOptionError("give --emotion NAME or --emotion-image FILE, not both")
    if emotion is not None and emotion not in EMOTIONS:
        raise InvalidOptionError(f"--emotion must be one of {', '.join(EMOTIONS)}, got {emotion!r}")


def bundled_emotion_path(name: str):
    """The bundled reference image of an expression (a PNG inside the package)."""
    check_emotion(name, None)
    return resources.files("vitascope") / "assets" / "emotions" / f"{name}.png"


def read_emotion(emotion: str | None, emotion_image) -> np.ndarray | None:
    """RGB uint8 [H, W, 3] of the wanted expression's reference image, or None when none is asked for."""
    from vitascope.media import read_image

    check_emotion(emotion, emotion_image)
    if emotion is not None:
        with resources.as_file(bundled_emotion_path(emotion)) as path:
            return read_image(path)
    if emotion_image is None:
        return None
    if isinstance(emotion_image, (str, Path)):
        return read_image(emotion_image)
    image = np.asarray(emotion_image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidOptionError(
            f"the emotion image must be RGB uint8 [H, W, 3], got {image.dtype} {image.shape}"
        )
    return image
