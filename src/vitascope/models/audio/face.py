"""The face mask of HunyuanVideo-Avatar: where the audio adapters may change the video.

Box -> mask exactly as the release (`get_facemask(..., area=3.0)`): the box's width and height are scaled by
`area` about its centre (centre and half sizes floored as the release does), clipped to the image, and the
mask is 1 inside, 0 outside, at image resolution [1, 1, 1, H, W]. It is then resized bilinearly to the latent
grid (`latent_face_mask`, fractional at the edges) and, inside the DiT, nearest to the token grid.

Where the box comes from:
- `face_box=(x, y, w, h)` given by the user (`parse_face_box` reads the text form "x,y,w,h"), or
- OpenCV's Haar cascade (`haarcascade_frontalface_default.xml`, shipped inside opencv-python below 5), the
  default: no download, no code execution, or
- the release's YOLOv5-Face `det_align/detface.pt`, only when asked for explicitly (`trust_torchscript=True`):
  it is a TorchScript archive and `torch.jit.load` runs the program inside it (see docs/avatar.md).
- for drawn faces the cascade misses, the talking-head world's head finder (`speakers.cartoon_faces`).
With several faces the largest is used (the release means to but keeps the last box larger than the first).
No face is an error with a hint, where the release silently masks the whole image.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vitascope.errors import InputFileError, InvalidOptionError

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]  # x, y, w, h in pixels
AREA = 3.0  # the release's enlargement (the function default 1.25 is overridden by every caller)


def parse_face_box(text: str) -> Box:
    """'x,y,w,h' (pixels) -> a box; InvalidOptionError with the expected form otherwise."""
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise InvalidOptionError(
            f"--face-box must be x,y,w,h in pixels (e.g. 120,80,200,240), got {text!r}"
        ) from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise InvalidOptionError(f"--face-box needs x, y >= 0 and w, h > 0, got {text!r}")
    return (x, y, w, h)


def check_box(box: Box, height: int, width: int) -> Box:
    x, y, w, h = box
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise InvalidOptionError(f"face box {box} does not lie inside the {width}x{height} image")
    return box


def largest_face(boxes) -> Box | None:
    """The box of largest area (w * h), or None when there is none."""
    boxes = [tuple(float(v) for v in b) for b in boxes]
    return max(boxes, key=lambda b: b[2] * b[3]) if boxes else None


def haar_faces(image: np.ndarray) -> list[Box]:
    """OpenCV's frontal-face Haar cascade on an RGB uint8 image [H, W, 3] -> boxes (x, y, w, h)."""
    import cv2

    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise InvalidOptionError(
            f"OpenCV's face cascade is missing ({path}); pass --face-box x,y,w,h instead"
        )
    gray = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY))
    side = max(24, min(image.shape[:2]) // 12)
    found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(side, side))
    return [tuple(float(v) for v in b) for b in np.asarray(found).reshape(-1, 4)]


def find_face(image: np.ndarray, face_box: Box | None = None, detector=None) -> Box:
    """The face box used for the mask: the given one (checked), else the largest detected face.

    detector: a callable image -> list of boxes (default: `haar_faces`; e.g. a `ReleaseFaceDetector`).
    """
    H, W = image.shape[:2]
    if face_box is not None:
        return check_box(tuple(float(v) for v in face_box), H, W)
    box = largest_face((detector or haar_faces)(image))
    if box is None and detector is None:  # drawn faces (cartoons) a photo cascade misses
        from vitascope.models.audio.speakers import cartoon_faces

        box = largest_face(cartoon_faces(image))
    if box is None:
        raise InputFileError(
            "no face found in the reference image; use a clear, frontal face photo or give the face "
            "position with --face-box x,y,w,h (pixels)"
        )
    log.info("face box (x, y, w, h): %s", tuple(round(v, 1) for v in box))
    return box


def face_mask(height: int, width: int, box: Box, area: float = AREA) -> torch.Tensor:
    """Binary mask [1, 1, 1, H, W] of the box enlarged `area` times per axis about its centre, clipped."""
    x1, y1, bw, bh = box
    x2, y2 = x1 + bw, y1 + bh
    ww, hh = bw * area, bh * area
    cx, cy = (x2 + x1) // 2, (y2 + y1) // 2  # floored, as the release
    left, top = max(cx - ww // 2, 0), max(cy - hh // 2, 0)
    right, bottom = min(cx + ww // 2, width), min(cy + hh // 2, height)
    mask = torch.zeros(1, 1, 1, height, width)
    mask[..., int(top) : int(bottom), int(left) : int(right)] = 1.0
    return mask


def latent_face_mask(mask: torch.Tensor, latent_hw: tuple[int, int]) -> torch.Tensor:
    """[B, 1, 1, H, W] -> [B, 1, 1, h, w] bilinear (align_corners=False), as the release's `predict`."""
    return F.interpolate(mask.float().squeeze(2), size=tuple(latent_hw), mode="bilinear").unsqueeze(2)
