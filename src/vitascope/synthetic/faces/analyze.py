"""Measure a talking-head clip from its frames (and optionally its audio), with no ground truth.

    result = analyze_talk(frames, audio=tracks, fps=25)    # tracks [N, S] left to right, or a mix [S]
    result.faces[0]["expression"], result.faces[0]["sync"]["offset"], result.faces[0]["cross_talk"]

Per face (left to right): box and skin colour per frame, mouth height per frame (over the head height, on the
mouth's middle columns) and the world's mouth opening read from it, expression (from brow height
and tilt, mouth corners, eye opening), identity (skin and hair colour, layout in head units), and with
audio the SyncNet-style scores of sync.py and cross-talk against the other faces' tracks.
See detect.py for what it reads and docs/talking_world.md for the accuracy measured on the world.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.analyze import _as_video as as_frames
from vitascope.synthetic.faces.detect import FaceFrame, Part, backdrop, heads, read_face
from vitascope.synthetic.faces.sync import cross_talk, envelopes, sync_scores
from vitascope.synthetic.faces.world import MOUTH_CLOSED, MOUTH_MAX_OPEN, SAMPLE_RATE

SURPRISED_GAP = 0.31  # brow-eye gap (half head heights) above which brows read as raised in surprise
TILT = 0.045  # brow tilt (inner minus outer end, half head heights) beyond which brows read sad / angry
SMILE, FROWN = 0.065, -0.06  # mouth corner lift (half head heights)
ROUND = 0.8  # mouth height over width (median over the clip) of a surprised "O" when brows are not drawn


@dataclasses.dataclass
class TalkAnalysis:
    """faces: one dict per face, left to right (see analyze_talk); background: RGB of the backdrop."""

    faces: list[dict]
    background: tuple[float, float, float]
    frames: int


def _as_video(video) -> np.ndarray:
    return as_frames(video, "analyze_talk")


def _track(per_frame: list[list[FaceFrame]], frames: int) -> list[list[FaceFrame | None]]:
    """Link heads frame to frame by nearest centre; keep the tracks that are faces, left to right."""
    tracks: list[list[FaceFrame | None]] = []
    for t, found in enumerate(per_frame):
        free = list(found)
        for tr in tracks:
            last = next((f for f in reversed(tr) if f is not None), None)
            if last is None or not free:
                tr.append(None)
                continue
            d = [np.hypot(f.cx - last.cx, f.cy - last.cy) for f in free]
            j = int(np.argmin(d))
            tr.append(free.pop(j) if d[j] < last.a else None)
        tracks.extend([None] * t + [f] for f in free)
    # a face is seen in half the frames, with eyes or a mouth in half of those (not any blob)
    tracks = [
        tr
        for tr in tracks
        if sum(f is not None for f in tr) >= max(1, frames / 2)
        and sum(f is not None and (f.mouth is not None or len(f.eyes) > 0) for f in tr) >= max(1, frames / 4)
    ]
    return sorted(tracks, key=lambda tr: np.mean([f.cx for f in tr if f is not None]))


def _column_height(part: Part, ref: float) -> float:
    """Mouth height in pixels on its three middle columns: the sum of coverage down each column."""
    x0, _, _, _ = part.box
    mid = part.x - x0 - 0.5
    cols = [int(np.clip(round(mid) + k, 0, part.dist.shape[1] - 1)) for k in (-1, 0, 1)]
    import cv2

    near = cv2.dilate(part.mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    alpha = np.clip(part.dist / max(ref, 1.0), 0.0, 1.0) * near
    return float(np.mean([alpha[:, c].sum() for c in cols]))


def _corner(part: Part, b: float) -> tuple[float, float]:
    """Mouth corner lift (half head heights, + up) from a parabola through the column centres, and the
    mouth's half width in pixels."""
    x0, y0, _, _ = part.box
    alpha = np.clip(part.dist / max(part.peak, 1.0), 0.0, 1.0) * part.mask
    weight = alpha.sum(axis=0)
    keep = weight >= 0.5
    if keep.sum() < 3:
        return 0.0, 0.5 * float(keep.sum())
    ys = np.arange(alpha.shape[0]) + y0 + 0.5
    xs = np.arange(alpha.shape[1]) + x0 + 0.5
    centre = (alpha * ys[:, None]).sum(axis=0)[keep] / weight[keep]
    x = xs[keep] - part.x
    half = (x.max() - x.min() + 1.0) / 2.0
    c2 = np.polyfit(x / half, centre, 2, w=np.sqrt(weight[keep]))[0]
    return float(-c2 / b), float(half)


def _brow(brow: Part, eye: Part, side: int, b: float) -> tuple[float, float]:
    """(gap from eye centre to brow centre, tilt = inner end minus outer end height), half head heights."""
    slope = brow.cov / max(brow.var_x, 1e-6)
    length = np.sqrt(12.0 * brow.var_x)
    return (eye.y - brow.y) / b, float(slope * side * length / b)


def _series(track: list[FaceFrame | None]) -> dict:
    """Per-frame measurements of one face as arrays (NaN where not seen)."""
    n = len(track)
    out = {k: np.full(n, np.nan) for k in ("height", "corner", "gap", "tilt", "eye", "mouth_w", "round")}
    seen = [f for f in track if f is not None and f.mouth is not None]
    ref = float(np.percentile([f.mouth.peak for f in seen], 90)) if seen else 1.0
    for t, f in enumerate(track):
        if f is None:
            continue
        if f.mouth is not None:
            px = _column_height(f.mouth, ref)
            corner, half = _corner(f.mouth, f.b)
            out["height"][t], out["round"][t] = px / (2.0 * f.b), px / max(2.0 * half, 1.0)
            out["corner"][t], out["mouth_w"][t] = corner, half / f.a
        both = [s for s in (-1, 1) if s in f.brows and s in f.eyes]
        if both:
            gt = np.array([_brow(f.brows[s], f.eyes[s], s, f.b) for s in both])
            out["gap"][t], out["tilt"][t] = gt.mean(axis=0)
        if f.eyes:
            out["eye"][t] = np.mean([np.sqrt(e.var_y / max(e.var_x, 1e-6)) for e in f.eyes.values()])
    return out


def _median(x: np.ndarray) -> float:
    return float(np.nanmedian(x)) if np.isfinite(x).any() else float("nan")


def expression(features: dict) -> str:
    """The expression named by per-face features (medians over the clip). Brows decide surprised, sad and
    angry when they are seen; the mouth corners decide happy and sad; without brows a mouth that is
    mostly round (as tall as 0.8 of its width) reads as surprised."""
    gap, tilt, corner = features["brow_gap"], features["brow_tilt"], features["corner"]
    if np.isfinite(gap):
        if gap > SURPRISED_GAP:
            return "surprised"
        if tilt > TILT:
            return "sad"
        if tilt < -TILT:
            return "angry"
    if np.isfinite(corner):
        if corner > SMILE:
            return "happy"
        if corner < FROWN:
            return "sad"
    if not np.isfinite(gap) and features["mouth_round"] > ROUND:
        return "surprised"
    return "neutral"


def _identity(track: list[FaceFrame | None]) -> dict:
    seen = [f for f in track if f is not None]
    hairs = [f.hair for f in seen if f.hair is not None]
    layout = {
        "aspect": float(np.median([f.a / f.b for f in seen])),
        "eye_u": _median(np.array([abs(e.x - f.cx) / f.a for f in seen for e in f.eyes.values()])),
        "eye_v": _median(np.array([(e.y - f.cy) / f.b for f in seen for e in f.eyes.values()])),
        "mouth_v": _median(np.array([(f.mouth.y - f.cy) / f.b for f in seen if f.mouth is not None])),
    }
    return {
        "skin": tuple(float(v) for v in np.median([f.skin for f in seen], axis=0)),
        "hair": tuple(float(v) for v in np.median(hairs, axis=0)) if len(hairs) > len(seen) / 2 else None,
        "layout": layout,
    }


def _face(track: list[FaceFrame | None]) -> dict:
    s = _series(track)
    t = np.arange(len(track))
    height = s["height"]
    ok = np.isfinite(height)
    filled = np.interp(t, t[ok], height[ok]) if ok.any() else np.zeros(len(track))
    features = {
        "brow_gap": _median(s["gap"]),
        "brow_tilt": _median(s["tilt"]),
        "corner": _median(s["corner"]),
        "eye_aspect": float(np.nanpercentile(s["eye"], 75)) if np.isfinite(s["eye"]).any() else float("nan"),
        "mouth_width": _median(s["mouth_w"]),
        "mouth_height": _median(height),
        "mouth_round": _median(s["round"]),
    }
    nan_box = (np.nan,) * 4
    return {
        "box": np.array([f.box if f is not None else nan_box for f in track]),  # [F, 4]
        "present": np.array([f is not None for f in track]),
        "mouth_height": filled,  # [F] over the head height
        "mouth_open": np.clip((2.0 * filled - MOUTH_CLOSED) / MOUTH_MAX_OPEN, 0.0, 1.0),  # [F], world units
        "skin_rgb": np.array([f.skin if f is not None else (np.nan,) * 3 for f in track]),  # [F, 3]
        "features": features,
        "expression": expression(features),
        "identity": _identity(track),
    }


def _add_sync(faces: list[dict], audio, fps: float, frames: int, sr: int) -> None:
    """Scores per face: against its own track (face i <-> track i, left to right) or the mix; with one
    track per face also cross-talk = the largest correlation with any other face's track."""
    env = envelopes(audio, fps, frames, sr)  # [N, F]
    per_face = len(env) == len(faces) and len(env) > 1
    if len(env) > 1 and not per_face:
        raise InvalidOptionError(
            f"{len(env)} audio tracks for {len(faces)} faces: give one per face, or the mix"
        )
    for i, face in enumerate(faces):
        face["sync"] = sync_scores(face["mouth_height"], env[i if per_face else 0])
        others = [cross_talk(face["mouth_height"], env[j]) for j in range(len(env)) if per_face and j != i]
        face["cross_talk"] = max(others) if others else None


def analyze_talk(video, audio=None, fps: float = 25.0, sr: int = SAMPLE_RATE) -> TalkAnalysis:
    """Measure the faces of uint8 frames [F, H, W, 3]; `audio` is None, a mono mix [S] or one track per
    face [N, S] (left to right), at `sr` Hz, spanning the clip at `fps`."""
    video = _as_video(video)
    colour, threshold = backdrop(video)
    per_frame = []
    for frame in video:
        found = [read_face(frame, mask, origin) for mask, origin in heads(frame, colour, threshold)]
        per_frame.append([f for f in found if f is not None])
    faces = [_face(tr) for tr in _track(per_frame, len(video))]
    if audio is not None and faces:
        _add_sync(faces, audio, fps, len(video), sr)
    return TalkAnalysis(faces, tuple(float(v) for v in colour), len(video))


def identity_drift(face: dict, fps: float, seconds: float = 1.0) -> float:
    """Skin colour change of one analysed face: delta E between its median skin over the first and over
    the last `seconds` of the clip (0 for a clip shorter than two such spans)."""
    skin = face["skin_rgb"]  # [F, 3]
    n = max(1, int(round(seconds * fps)))
    if len(skin) < 2 * n:
        return 0.0
    first, last = np.nanmedian(skin[:n], axis=0), np.nanmedian(skin[-n:], axis=0)
    return delta_e(first, last)


def delta_e(rgb1, rgb2) -> float:
    """CIE76 colour difference of two sRGB colours (0-255): the distance in CIELAB (D65). Identity drift
    is judged with it (the same skin in the first and last second of a clip: delta E <= 10)."""

    def lab(rgb):
        c = np.asarray(rgb, np.float64) / 255.0
        c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
        xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ c
        f = xyz / np.array([0.95047, 1.0, 1.08883])
        f = np.where(f > (6 / 29) ** 3, np.cbrt(f), f / (3 * (6 / 29) ** 2) + 4 / 29)
        return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])

    return float(np.linalg.norm(lab(rgb1) - lab(rgb2)))
