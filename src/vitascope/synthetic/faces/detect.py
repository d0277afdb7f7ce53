"""Finding cartoon faces and their parts in one frame, with no knowledge of how they were drawn.

The family it reads: a filled head in one skin tone on a plain backdrop, with dark (or at least non-skin)
eyes and mouth inside it; brows, hair and an outline are optional. Steps per frame:
1. backdrop = median of the frame border; foreground = pixels far from it; each large connected
   component, its holes filled, is a head (features as dark as a dark backdrop become holes: filled too);
2. skin = the most common colour of the head; non-skin pixels split into the rim (touching the outside:
   hair, outline, the anti-aliased edge) and interior parts (eyes, brows, mouth);
3. head geometry: half width a from the widest row of skin and parts, half height b from the chin and the
   top (the top of hair sits 6% of b above the head, the world's and most cartoons' rule);
4. parts by position in head units: the mouth is the lowest part near the middle, each eye the lowest part
   on its side above it, each brow the part just above its eye.
"""

from __future__ import annotations

import dataclasses

import numpy as np

SKIN_T = 45.0  # RGB distance from the skin colour that makes a pixel part of a feature
FG_T = 40.0  # least RGB distance from the backdrop that makes a pixel foreground
HAIR_TOP = 0.08  # rim thicker than this fraction of the head's height at the top centre is hair
HAIR_RISE = 1.06  # the top of the hair over the head, in half head heights


@dataclasses.dataclass
class Part:
    """One interior part: centre (x, y) and soft moments in frame pixels, its soft coverage crop."""

    x: float
    y: float
    var_x: float
    var_y: float
    cov: float
    peak: float  # largest distance from skin inside (the part's contrast)
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) in frame pixels
    dist: np.ndarray  # distance from skin over box [h, w]
    mask: np.ndarray  # the part's own pixels over box [h, w] bool


@dataclasses.dataclass
class FaceFrame:
    """One head in one frame: box (x0, y0, x1, y1) of head and hair, centre, half width a and half height
    b of the head, skin and hair colours (hair None when none on top), and its parts."""

    box: tuple[float, float, float, float]
    cx: float
    cy: float
    a: float
    b: float
    skin: np.ndarray
    hair: np.ndarray | None
    mouth: Part | None
    eyes: dict[int, Part]  # side (-1 left, 1 right) -> part
    brows: dict[int, Part]


def backdrop(video: np.ndarray) -> tuple[np.ndarray, float]:
    """Backdrop colour (median of the 2-pixel border of up to 16 frames) and the foreground threshold."""
    f = video[:: max(1, len(video) // 16)].astype(np.float32)
    border = np.concatenate([s.reshape(-1, 3) for s in (f[:, :2], f[:, -2:], f[:, :, :2], f[:, :, -2:])])
    colour = np.median(border, axis=0)
    noise = np.percentile(np.linalg.norm(border - colour, axis=1), 90)
    return colour, float(max(FG_T, 3.0 * noise))


def _fill(mask: np.ndarray) -> np.ndarray:
    """mask with its holes filled (everything not reachable from outside)."""
    import cv2

    padded = np.pad(mask.astype(np.uint8), 1)
    outside = padded.copy()
    cv2.floodFill(outside, None, (0, 0), 2)
    return (outside != 2)[1:-1, 1:-1]


def heads(
    frame: np.ndarray, colour: np.ndarray, threshold: float
) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Filled head masks (cropped, with a 2-pixel margin) and their crop origins (x, y), largest first."""
    import cv2

    diff = frame.astype(np.float32) - colour.astype(np.float32)
    fg = np.einsum("hwc,hwc->hw", diff, diff) > threshold * threshold
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    if n <= 1:
        return []
    areas = stats[1:, cv2.CC_STAT_AREA]
    floor = max(80.0, 0.15 * float(areas.max()))
    out = []
    h, w = fg.shape
    for i in np.argsort(-areas) + 1:
        if stats[i, cv2.CC_STAT_AREA] < floor:
            continue
        x0, y0, bw, bh = (int(v) for v in stats[i, :4])
        x0, y0, x1, y1 = max(0, x0 - 2), max(0, y0 - 2), min(w, x0 + bw + 2), min(h, y0 + bh + 2)
        out.append((_fill(labels[y0:y1, x0:x1] == i), (x0, y0)))
    return out


def _skin(pixels: np.ndarray) -> np.ndarray:
    """The most common colour of a head: median of the fullest 16-level colour bin. pixels [N, 3]."""
    q = (pixels // 16).astype(np.int64)
    key = q[:, 0] * 256 + q[:, 1] * 16 + q[:, 2]
    return np.median(pixels[key == np.bincount(key, minlength=4096).argmax()], axis=0)


def _part(dist: np.ndarray, own: np.ndarray, ox: int, oy: int) -> Part:
    """Soft moments of one part (own: its pixels over its own 2-pixel-padded box of `dist`, whose origin is
    (ox, oy) in the frame): coverage = distance from skin over the part's peak, on the part and a 1-pixel
    ring (its anti-aliased edge)."""
    import cv2

    ring = cv2.dilate(own.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    inside = dist[own]
    peak = float(np.partition(inside, int(0.95 * (len(inside) - 1)))[int(0.95 * (len(inside) - 1))])
    alpha = np.clip(dist / max(peak, 1.0), 0.0, 1.0) * ring
    gy = np.arange(dist.shape[0], dtype=np.float64)[:, None] + 0.5
    gx = np.arange(dist.shape[1], dtype=np.float64)[None, :] + 0.5
    total = max(float(alpha.sum()), 1e-9)
    mx, my = float((alpha * gx).sum() / total), float((alpha * gy).sum() / total)
    vx = float((alpha * (gx - mx) ** 2).sum() / total)
    vy = float((alpha * (gy - my) ** 2).sum() / total)
    cv = float((alpha * (gx - mx) * (gy - my)).sum() / total)
    h, w = dist.shape
    return Part(mx + ox, my + oy, vx, vy, cv, peak, (ox, oy, ox + w, oy + h), dist, own)


def _geometry(filled: np.ndarray, rim: np.ndarray) -> tuple[float, float, float, float, bool]:
    """cx, cy, a, b in crop pixels and whether hair sits on top."""
    head = filled & ~rim
    rows, cols = np.nonzero(filled)
    top, bottom = rows.min(), rows.max() + 1
    hcols = np.nonzero(head.any(axis=0))[0]
    cx = (hcols.min() + hcols.max() + 1) / 2.0
    a = float(head.sum(axis=1).max()) / 2.0
    column = rim[top:bottom, int(cx)]
    run = int(np.argmin(column)) if not column.all() else len(column)
    hair = run > HAIR_TOP * (bottom - top)
    b = (bottom - top) / ((1.0 + HAIR_RISE) if hair else 2.0)
    return cx, bottom - b, a, b, hair


def _assign(parts: list[Part], cx: float, cy: float, a: float, b: float):
    """mouth, eyes {side: part}, brows {side: part} from the parts' positions in head units."""

    def uv(p):
        return (p.x - cx) / a, (p.y - cy) / b

    mouths = [p for p in parts if uv(p)[1] > 0.15 and abs(uv(p)[0]) < 0.45]
    mouth = max(mouths, key=lambda p: p.y) if mouths else None
    eyes, brows = {}, {}
    floor = uv(mouth)[1] - 0.1 if mouth is not None else 0.3
    for side in (-1, 1):
        cands = [
            p for p in parts if p is not mouth and 0.08 < side * uv(p)[0] < 0.9 and -0.85 < uv(p)[1] < floor
        ]
        if not cands:
            continue
        eye = max(cands, key=lambda p: p.y)
        eyes[side] = eye
        above = [p for p in cands if p.y < eye.y - 0.08 * b and abs(p.x - eye.x) < 0.35 * a]
        if above:
            brows[side] = max(above, key=lambda p: p.y)
    return mouth, eyes, brows


def read_face(frame: np.ndarray, filled: np.ndarray, origin: tuple[int, int]) -> FaceFrame | None:
    """Measure one head (a filled mask over a crop of `frame` at `origin`)."""
    import cv2

    ox, oy = origin
    crop = frame[oy : oy + filled.shape[0], ox : ox + filled.shape[1]].astype(np.float32)
    if filled.sum() < 50:
        return None
    skin = _skin(crop[filled][::2])
    diff = crop - skin.astype(np.float32)
    dist = np.sqrt(np.einsum("hwc,hwc->hw", diff, diff))
    nonskin = filled & (dist > SKIN_T)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(nonskin.astype(np.uint8), connectivity=8)
    edge = cv2.dilate((~filled).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    touching = set(np.unique(labels[edge & nonskin]).tolist())
    rim = np.isin(labels, list(touching)) & nonskin
    cx, cy, a, b, hair = _geometry(filled, rim)
    min_area = max(2, int(0.002 * filled.sum()))
    parts = []
    for i in np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= min_area):
        if i == 0 or i in touching:
            continue
        x0, y0, bw, bh = (int(v) for v in stats[i, :4])
        x0, y0, x1, y1 = (
            max(0, x0 - 2),
            max(0, y0 - 2),
            min(filled.shape[1], x0 + bw + 2),
            min(filled.shape[0], y0 + bh + 2),
        )
        parts.append(_part(dist[y0:y1, x0:x1], labels[y0:y1, x0:x1] == i, ox + x0, oy + y0))
    mouth, eyes, brows = _assign(parts, cx + ox, cy + oy, a, b)
    rows, cols = np.nonzero(filled)
    box = (
        float(cols.min() + ox),
        float(rows.min() + oy),
        float(cols.max() + 1 + ox),
        float(rows.max() + 1 + oy),
    )
    hair_rgb = None
    if hair:
        top_rim = rim & (np.arange(filled.shape[0])[:, None] < cy - 0.5 * b)
        hair_rgb = np.median(crop[top_rim], axis=0) if top_rim.any() else None
    return FaceFrame(box, cx + ox, cy + oy, a, b, skin, hair_rgb, mouth, eyes, brows)
