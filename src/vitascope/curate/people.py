"""Stage 7: people count and size with OpenCV's bundled detectors (Haar frontal faces, HOG pedestrians).

Feeds the portrait filter of the paper: at most 5 people, and the main subject not too small. Clips without
people pass; this stage only judges clips that have them.

OpenCV 5 moved the Haar cascades and the HOG people detector out of the main package (opencv-python 5 has
neither), so with it this stage reports `people_check: "unavailable"` and filters nothing; with OpenCV 4.x
(`pip install "opencv-python-headless<5"`) it runs. The detector is pluggable: any callable
frame -> (faces, persons) boxes can be passed to `analyse_people`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from vitascope.curate.config import PeopleConfig

log = logging.getLogger(__name__)


def opencv_detectors_available() -> bool:
    import cv2

    return hasattr(cv2, "CascadeClassifier") and hasattr(cv2, "HOGDescriptor")


@functools.lru_cache(maxsize=1)
def _detectors():
    import cv2

    if not opencv_detectors_available():
        raise RuntimeError(f"OpenCV {cv2.__version__} has no Haar/HOG detectors")
    face = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return face, hog


def detect_people(rgb: np.ndarray) -> tuple[list[list[float]], list[list[float]]]:
    """(faces, persons) boxes (x0, y0, x1, y1 as fractions) in one uint8 RGB frame [H, W, 3]."""
    import cv2

    face, hog = _detectors()
    h, w = rgb.shape[:2]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    min_face = max(12, int(0.06 * h))
    faces = face.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=6, minSize=(min_face, min_face))
    persons = []
    if h >= 128 and w >= 64:  # the HOG window is 64x128
        rects, weights = hog.detectMultiScale(gray, winStride=(8, 8), padding=(8, 8), scale=1.1)
        persons = [r for r, s in zip(rects, np.ravel(weights), strict=False) if s > 0.5]

    def frac(boxes):
        return [[x / w, y / h, (x + bw) / w, (y + bh) / h] for x, y, bw, bh in boxes]

    return frac(list(faces)), frac(persons)


def _inside(box, boxes) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in boxes)


def analyse_people(rgb: np.ndarray, detector: Callable | None = None) -> dict[str, Any]:
    """People count (max over frames; a face inside a person box counts once) and largest subject height.

    detector: frame [H, W, 3] uint8 -> (faces, persons), boxes as fractions; default OpenCV's when available.
    """
    if detector is None:
        if not opencv_detectors_available():
            _warn_once()
            return {"people_check": "unavailable", "people_count": None, "face_count": None,
                    "subject_fraction": None}  # fmt: skip
        detector = detect_people
    count, faces_max, subject = 0, 0, 0.0
    for frame in rgb:
        faces, persons = detector(frame)
        n = len(persons) + sum(not _inside(f, persons) for f in faces)
        count, faces_max = max(count, n), max(faces_max, len(faces))
        # a face stands for a person about 7 face-heights tall when no body is seen; use the face itself
        heights = [b[3] - b[1] for b in faces + persons]
        subject = max([subject] + heights)
    return {
        "people_check": "ok",
        "people_count": count,
        "face_count": faces_max,
        "subject_fraction": float(subject),
    }


@functools.lru_cache(maxsize=1)
def _warn_once() -> None:
    import cv2

    log.warning(
        "OpenCV %s ships no face/person detectors; the people filter is skipped. "
        "Install opencv-python-headless<5 to enable it.",
        cv2.__version__,
    )


def people_rejects(p: dict[str, Any], cfg: PeopleConfig) -> list[str]:
    if p.get("people_count") is None:
        return []
    if p["people_count"] > cfg.max_people:
        return ["too_many_people"]
    if p["people_count"] > 0 and p["subject_fraction"] < cfg.min_subject_fraction:
        return ["subject_too_small"]
    return []
