"""Stage 5: on-screen text. OCR text-area ratio (rapidocr ships its own ONNX models); subtitle bands cropped.

The detector runs at a fixed size (frames are scaled so their longest side is `ocr_size`, which also lifts
small subtitles of low-resolution clips to a readable size); recognition then only confirms the detected
boxes (score and at least two characters), which removes detections on textures at little cost.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np

from vitascope.curate.config import TextConfig

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=2)
def _engine(size: int):
    # one engine per process; loading the ONNX sessions takes ~0.5 s
    from rapidocr_onnxruntime import RapidOCR

    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    return RapidOCR(
        intra_op_num_threads=1, inter_op_num_threads=1, det_limit_side_len=size, det_limit_type="max"
    )


def text_boxes(frame: np.ndarray, size: int = 320, min_score: float = 0.5) -> list[tuple[float, ...]]:
    """Confirmed text boxes (x0, y0, x1, y1) in pixels of one uint8 RGB frame [H, W, 3]."""
    import cv2

    h, w = frame.shape[:2]
    s = size / max(h, w)
    img = cv2.resize(frame, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC)[..., ::-1].copy()
    result, _ = _engine(size)(img, use_det=True, use_cls=False, use_rec=True)
    boxes = []
    for quad, text, score in result or []:
        if score < min_score or len(str(text).strip()) < 2:
            continue
        q = np.asarray(quad, np.float32).reshape(-1, 2) / s
        boxes.append((float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max())))
    return boxes


def analyse_text(rgb: np.ndarray, cfg: TextConfig) -> dict[str, Any]:
    """Text coverage of sampled frames rgb [N, H, W, 3].

    Returns text_ratio (mean fraction of the frame covered by text outside the subtitle band),
    subtitle_ratio (same, inside it) and subtitle_top (fraction of the height where the band starts, or None).
    """
    _, h, w, _ = rgb.shape
    band_y = (1 - cfg.subtitle_band) * h
    text_ratios, sub_ratios, sub_top, all_boxes = [], [], None, []
    for frame in rgb:
        text_mask = np.zeros((h, w), bool)
        sub_mask = np.zeros((h, w), bool)
        for x0, y0, x1, y1 in text_boxes(frame, cfg.ocr_size):
            box = (slice(max(0, int(y0)), int(np.ceil(y1))), slice(max(0, int(x0)), int(np.ceil(x1))))
            if y0 >= band_y:
                sub_mask[box] = True
                sub_top = y0 / h if sub_top is None else min(sub_top, y0 / h)
            else:
                text_mask[box] = True
            all_boxes.append([x0 / w, y0 / h, x1 / w, y1 / h])
        text_ratios.append(text_mask.mean())
        sub_ratios.append(sub_mask.mean())
    return {
        "text_ratio": float(np.mean(text_ratios)),
        "subtitle_ratio": float(np.mean(sub_ratios)),
        "subtitle_top": sub_top,
        "text_boxes": all_boxes,
    }


def text_decision(t: dict[str, Any], cfg: TextConfig) -> tuple[list[str], list[str], float | None]:
    """(rejects, flags, new bottom edge of the crop as a fraction or None) for a text analysis."""
    rejects, flags, bottom = [], [], None
    if t["subtitle_top"] is not None and t["subtitle_ratio"] > 0.002:
        if cfg.subtitle_action == "drop":
            rejects.append("subtitles")
        else:
            flags.append("subtitles_cropped")
            bottom = max(0.5, t["subtitle_top"] - 0.02)  # a small margin above the highest subtitle box
    if t["text_ratio"] > cfg.max_text_ratio:
        rejects.append("too_much_text")
    return rejects, flags, bottom
