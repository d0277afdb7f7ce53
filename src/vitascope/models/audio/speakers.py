"""Several speakers in one picture: which face is whose voice, and one face mask per speaker.

Faces are matched to audio tracks left to right (boxes sorted by x), or given as boxes in the tracks' order.
Finding them: the detector (default OpenCV's Haar cascade, `face.haar_faces`) and, for drawn faces that a
photo detector misses (a filled head with dark eyes and mouth on a plain backdrop: cartoon avatars, the
talking-head world), the world's drawing-agnostic head finder (`cartoon_faces`).

Masks: each speaker's box enlarged as the release does (`face.face_mask`, 3x per axis); where enlarged boxes
overlap, a pixel belongs to the speaker whose box centre is nearest (in that box's own half sizes), so
the masks are disjoint and one voice never drives the other face. One speaker: exactly `face.face_mask`.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from vitascope.errors import InputFileError, InvalidOptionError
from vitascope.models.audio.face import AREA, Box, check_box, face_mask, haar_faces

log = logging.getLogger(__name__)


def cartoon_faces(image: np.ndarray) -> list[Box]:
    """Drawn heads in an RGB uint8 image [H, W, 3] with at least one eye and a mouth: boxes (x, y, w, h) of
    the head (hair left out), unsorted. Empty for photos and for drawings without a plain backdrop."""
    from vitascope.synthetic.faces.detect import backdrop, heads, read_face

    frame = np.ascontiguousarray(image)
    H, W = frame.shape[:2]
    colour, threshold = backdrop(frame[None])
    boxes = []
    for mask, origin in heads(frame, colour, threshold):
        f = read_face(frame, mask, origin)
        if f is None or f.mouth is None or not f.eyes:
            continue
        x0, y0 = max(0.0, f.cx - f.a), max(0.0, f.cy - f.b)
        x1, y1 = min(float(W), f.cx + f.a), min(float(H), f.cy + f.b)
        boxes.append((x0, y0, x1 - x0, y1 - y0))
    return boxes


def detect_faces(image: np.ndarray, detector=None, count: int | None = None) -> list[Box]:
    """Faces left to right. With `detector` only its boxes; by default Haar's, unless they are none (or not
    `count` when a count is wanted) and the head finder for drawn faces gives them."""
    boxes = list((detector or haar_faces)(image))
    if detector is None and (not boxes or (count is not None and len(boxes) != count)):
        drawn = cartoon_faces(image)
        if drawn and (count is None or len(drawn) == count or not boxes):
            boxes = drawn
    return sorted((tuple(float(v) for v in b) for b in boxes), key=lambda b: b[0])


def find_faces(image: np.ndarray, count: int, face_boxes=None, detector=None) -> list[Box]:
    """`count` face boxes, one per speaker in the speakers' order: the given boxes (checked, in the order
    given) or the detected faces sorted left to right; a clear error when the numbers differ."""
    H, W = image.shape[:2]
    if face_boxes:
        if len(face_boxes) != count:
            raise InvalidOptionError(
                f"{count} audio track(s) but {len(face_boxes)} --face-box: give one box per voice, in order"
            )
        return [check_box(tuple(float(v) for v in b), H, W) for b in face_boxes]
    boxes = detect_faces(image, detector, count)
    if not boxes:
        raise InputFileError(
            "no face found in the reference image; use a clear, frontal face photo or give the face "
            "position with --face-box x,y,w,h (pixels)"
        )
    if len(boxes) != count:
        raise InvalidOptionError(
            f"{count} audio track(s) but {len(boxes)} face(s) found in the picture; give one --audio per "
            "face (matched left to right), or one --face-box x,y,w,h per --audio"
        )
    log.info("faces (x, y, w, h), left to right: %s", [tuple(round(v, 1) for v in b) for b in boxes])
    return boxes


def speaker_masks(height: int, width: int, boxes: list[Box], area: float = AREA) -> torch.Tensor:
    """Disjoint masks [1, N, 1, H, W], one per box in order (see the module docstring)."""
    masks = torch.cat([face_mask(height, width, b, area) for b in boxes], dim=1)  # [1, N, 1, H, W]
    if len(boxes) == 1:
        return masks
    y, x = torch.meshgrid(
        torch.arange(height, dtype=torch.float32) + 0.5,
        torch.arange(width, dtype=torch.float32) + 0.5,
        indexing="ij",
    )
    dist = torch.stack(
        [
            ((x - (bx + bw / 2)) / (bw / 2)) ** 2 + ((y - (by + bh / 2)) / (bh / 2)) ** 2
            for bx, by, bw, bh in boxes
        ]
    )  # [N, H, W]
    dist = torch.where(masks[0, :, 0] > 0, dist, torch.inf)
    nearest = (
        torch.nn.functional.one_hot(dist.argmin(dim=0), len(boxes)).permute(2, 0, 1).float()
    )  # [N, H, W]
    return masks * nearest[None, :, None]
