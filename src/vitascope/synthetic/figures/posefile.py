"""Keypoint files in the OpenPose / DWPose JSON layout, converted to and from COCO-17.

One frame is `{"people": [{"pose_keypoints_2d": [x0, y0, c0, x1, y1, c1, ...]}], "canvas_width": W,
"canvas_height": H}` (the canvas keys are optional). The flat list holds 17 (COCO), 18 (OpenPose BODY_18,
what DWPose writes) or 25 (OpenPose BODY_25) points; the neck and mid-hip of the OpenPose layouts are
dropped (they are means of shoulders and hips) and BODY_25's feet ignored. Coordinates are pixels, or
fractions of the canvas when every one is within [0, 1] and the canvas size is given (DWPose's
normalised form). A sequence is a JSON list of frames, `{"frames": [...]}`, or a folder of per-frame
files (OpenPose's `--write_json` output, read in name order).

Missing points (confidence 0) are filled from the nearest frames that have them; a body joint missing in
every frame is an error, missing face points are placed on a head above the neck.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.figures.model import KEYPOINTS, K

# COCO-17 index -> index in each layout
BODY_18 = {"nose": 0, "right_shoulder": 2, "right_elbow": 3, "right_wrist": 4, "left_shoulder": 5,
           "left_elbow": 6, "left_wrist": 7, "right_hip": 8, "right_knee": 9, "right_ankle": 10, "left_hip": 11,
           "left_knee": 12, "left_ankle": 13, "right_eye": 14, "left_eye": 15, "right_ear": 16, "left_ear": 17}  # fmt: skip
BODY_25 = {"nose": 0, "right_shoulder": 2, "right_elbow": 3, "right_wrist": 4, "left_shoulder": 5,
           "left_elbow": 6, "left_wrist": 7, "right_hip": 9, "right_knee": 10, "right_ankle": 11, "left_hip": 12,
           "left_knee": 13, "left_ankle": 14, "right_eye": 15, "left_eye": 16, "right_ear": 17, "left_ear": 18}  # fmt: skip
LAYOUTS = {17: {name: i for i, name in enumerate(KEYPOINTS)}, 18: BODY_18, 25: BODY_25}
FACE = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")


def atomic_write_text(path, text: str) -> None:
    """Readers see all or nothing (`vitascope.io.files`)."""
    from vitascope.io.files import write_text_atomic

    write_text_atomic(path, text)


def _frame_points(frame: dict, where: str) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 points [17, 2] and confidences [17] of the first person of one frame."""
    if not isinstance(frame, dict) or "people" not in frame:
        raise InvalidOptionError(f"{where}: a frame must be an object with a 'people' list (OpenPose layout)")
    xy, conf = np.zeros((17, 2)), np.zeros(17)
    if not frame["people"]:
        return xy, conf
    flat = np.asarray(frame["people"][0].get("pose_keypoints_2d", []), dtype=np.float64)
    n = len(flat) // 3
    if len(flat) % 3 or n not in LAYOUTS:
        raise InvalidOptionError(
            f"{where}: pose_keypoints_2d has {len(flat)} values; expected 3 x 17 (COCO), 3 x 18 (OpenPose "
            "BODY_18 / DWPose) or 3 x 25 (BODY_25)"
        )
    pts = flat.reshape(n, 3)
    for name, j in LAYOUTS[n].items():
        xy[K[name]], conf[K[name]] = pts[j, :2], pts[j, 2]
    w, h = frame.get("canvas_width"), frame.get("canvas_height")
    seen = conf > 0
    if w and h and seen.any() and (xy[seen] >= 0).all() and (xy[seen] <= 1).all():
        xy *= np.array([float(w), float(h)])
    return xy, conf


def _frames_of(source) -> list[dict]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            files = sorted(path.glob("*.json"))
            if not files:
                raise InvalidOptionError(f"{path}: no .json files in this folder")
            return [_load(f) for f in files]
        source = _load(path)
    if isinstance(source, dict) and "frames" in source:
        source = source["frames"]
    return list(source) if isinstance(source, list) else [source]


def _load(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InvalidOptionError(f"{path}: no such keypoint file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InvalidOptionError(f"{path}: not a JSON keypoint file ({err})") from None


def read_pose_json(source) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 keypoints [T, 17, 2] (pixels) and confidences [T, 17] from a keypoint file, folder, or the
    parsed JSON (see the module notes). Points are as written: nothing is filled in."""
    frames = _frames_of(source)
    if not frames:
        raise InvalidOptionError("the keypoint file holds no frames")
    pts = [_frame_points(f, f"frame {i}") for i, f in enumerate(frames)]
    return np.stack([p[0] for p in pts]), np.stack([p[1] for p in pts])


def fill_missing(keypoints, confidence) -> np.ndarray:
    """Keypoints [T, 17, 2] with missing points (confidence <= 0) filled: body joints by interpolation in
    time (an error if one is never seen), face points on a head placed above the neck."""
    kp = np.array(keypoints, dtype=np.float64)
    seen = np.asarray(confidence) > 0
    t = np.arange(len(kp))
    for j, name in enumerate(KEYPOINTS):
        if name in FACE:
            continue
        if not seen[:, j].any():
            raise InvalidOptionError(
                f"the keypoint {name!r} is missing in every frame; a motion needs all body joints"
            )
        for c in (0, 1):
            kp[:, j, c] = np.interp(t, t[seen[:, j]], kp[seen[:, j], j, c])
    face = [K[n] for n in FACE]
    if not seen[:, face].all():
        from vitascope.synthetic.figures.model import angle_of, face_points

        neck = (kp[:, K["left_shoulder"]] + kp[:, K["right_shoulder"]]) / 2
        pelvis = (kp[:, K["left_hip"]] + kp[:, K["right_hip"]]) / 2
        trunk = np.linalg.norm(neck - pelvis, axis=-1)
        down = angle_of(pelvis - neck)
        up = (neck - pelvis) / np.maximum(trunk, 1e-6)[:, None]
        guess = face_points(neck + 0.35 * trunk[:, None] * up, 0.25 * trunk, down)  # [T, 5, 2]
        for i, j in enumerate(face):
            kp[~seen[:, j], j] = guess[~seen[:, j], i]
    return kp


def write_pose_json(keypoints, confidence=None, layout: int = 18, size=None) -> list[dict] | dict:
    """OpenPose-layout JSON of COCO-17 keypoints [T, 17, 2] (a list of frames) or [17, 2] (one frame), in
    `layout` 17, 18 (BODY_18, the neck as the mean of the shoulders) or 25 (neck and mid-hip added)."""
    if layout not in LAYOUTS:
        raise InvalidOptionError(f"layout={layout}: choose 17 (COCO), 18 (BODY_18) or 25 (BODY_25)")
    kp = np.asarray(keypoints, dtype=np.float64)
    single = kp.ndim == 2
    kp = kp[None] if single else kp
    conf = (
        np.ones(kp.shape[:2])
        if confidence is None
        else np.asarray(confidence, dtype=np.float64).reshape(kp.shape[:2])
    )
    frames = []
    for t in range(len(kp)):
        pts = np.zeros((layout, 3))
        for name, j in LAYOUTS[layout].items():
            pts[j] = (*kp[t, K[name]], conf[t, K[name]])
        if layout in (18, 25):  # neck
            ls, rs = K["left_shoulder"], K["right_shoulder"]
            pts[1] = (*((kp[t, ls] + kp[t, rs]) / 2), min(conf[t, ls], conf[t, rs]))
        if layout == 25:  # mid-hip
            lh, rh = K["left_hip"], K["right_hip"]
            pts[8] = (*((kp[t, lh] + kp[t, rh]) / 2), min(conf[t, lh], conf[t, rh]))
        frame = {"version": 1.3, "people": [{"pose_keypoints_2d": np.round(pts, 3).ravel().tolist()}]}
        if size is not None:
            frame["canvas_height"], frame["canvas_width"] = int(size[0]), int(size[1])
        frames.append(frame)
    return frames[0] if single else frames


def save_pose_json(path, keypoints, confidence=None, layout: int = 18, size=None) -> None:
    atomic_write_text(path, json.dumps(write_pose_json(keypoints, confidence, layout, size)))
