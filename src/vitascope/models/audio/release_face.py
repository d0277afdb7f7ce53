"""The release's YOLOv5-Face detector (`weights/ckpts/det_align/detface.pt`), behind an explicit opt-in.

The file is a TorchScript archive: `torch.jit.load` deserialises and runs the program stored in it, so a
tampered file runs whatever TorchScript it contains (file and tensor ops included) with the user's rights.
We therefore never load it on our own; a caller must pass `trust_torchscript=True`, after which it runs as
the release runs it: short side to 416, both sides rounded
up to multiples of 32, RGB / 255, grids at strides 8/16/32, confidence (objectness x class) > 0.5, NMS at 0.45.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from vitascope.errors import InvalidOptionError, ModelFolderError

log = logging.getLogger(__name__)

INPUT_SIZE, CONF, IOU = 416, 0.5, 0.45


def _nms(boxes: torch.Tensor, scores: torch.Tensor, iou: float) -> list[int]:
    """Greedy NMS on xyxy boxes [N, 4]; indices kept, best score first."""
    order = scores.argsort(descending=True).tolist()
    area = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    keep: list[int] = []
    for i in order:
        ok = True
        for j in keep:
            lt = torch.maximum(boxes[i, :2], boxes[j, :2])
            rb = torch.minimum(boxes[i, 2:], boxes[j, 2:])
            inter = (rb - lt).clamp(min=0).prod()
            if inter / (area[i] + area[j] - inter) > iou:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def decode(pred: torch.Tensor, scale_xy: tuple[float, float]) -> list[tuple[float, float, float, float]]:
    """pred [1, N, 16] (cx, cy, w, h, objectness, 10 landmark coords, class score) at network size ->
    boxes (x, y, w, h) at image size after the confidence filter and NMS."""
    p = pred[0].float()
    conf = p[:, 4] * p[:, 15]
    p, conf = p[(p[:, 4] > CONF) & (conf > CONF)], conf[(p[:, 4] > CONF) & (conf > CONF)]
    xyxy = torch.cat([p[:, :2] - p[:, 2:4] / 2, p[:, :2] + p[:, 2:4] / 2], dim=1)
    sx, sy = scale_xy
    out = []
    for i in _nms(xyxy, conf, IOU):
        x1, y1, x2, y2 = xyxy[i].tolist()
        out.append((x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy))
    return out


class ReleaseFaceDetector:
    """Callable image [H, W, 3] RGB uint8 -> face boxes, with the release's TorchScript detector."""

    def __init__(self, path: str | Path, *, trust_torchscript: bool = False, device="cpu"):
        path = Path(path)
        if not trust_torchscript:
            raise InvalidOptionError(
                f"{path} is TorchScript, which runs code when loaded; pass trust_torchscript=True "
                "only for a file you trust, or use the default detector (or give the face box)"
            )
        if not path.is_file():
            raise ModelFolderError(f"face detector not found: {path}")
        self.model = torch.jit.load(str(path), map_location=device).eval()
        self.device = device

    @torch.no_grad()
    def __call__(self, image: np.ndarray):
        import cv2

        h0, w0 = image.shape[:2]
        r = INPUT_SIZE / min(h0, w0)
        h1, w1 = int(h0 * r + 31) // 32 * 32, int(w0 * r + 31) // 32 * 32
        img = cv2.resize(np.ascontiguousarray(image), (w1, h1), interpolation=cv2.INTER_LINEAR)
        x = torch.from_numpy(img).to(self.device).permute(2, 0, 1)[None].float() / 255  # [1, 3, h1, w1]
        grids = []
        for s in (8, 16, 32):
            yv, xv = torch.meshgrid(torch.arange(h1 // s), torch.arange(w1 // s), indexing="ij")
            grids.append(torch.stack((xv, yv), 2).view(1, 1, h1 // s, w1 // s, 2).float().to(self.device))
        return decode(self.model(x, grids).cpu(), (w0 / w1, h0 / h1))
