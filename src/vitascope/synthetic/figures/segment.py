"""Segmenting a frame of a figure into its four parts by colour, and naming the parts by their geometry.

1. background: the median colour of the frame border; foreground: pixels over BG_DISTANCE from it;
2. part colours: clusters of "pure" foreground pixels (equal to their four neighbours, so anti-aliased
   edges between parts do not make colours of their own), greedily from the most common quantised colour;
3. every foreground pixel within PART_DISTANCE of a part colour gets that part, others stay unknown;
4. roles: the head is the most disc-like part (area over pi times its largest inscribed radius squared),
   the legs the part farthest from the head, and of the two left the torso is the thicker one.
Nothing here knows the drawer's palette: any four distinct flat colours on a plain background work.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.figures.model import ROLES

BG_DISTANCE = 40.0
PART_DISTANCE = 40.0
UNKNOWN, BACKGROUND = -2, -1


@dataclasses.dataclass
class Segmentation:
    """labels [H, W]: index into ROLES, BACKGROUND or UNKNOWN; colours: RGB per role; background RGB."""

    labels: np.ndarray
    colours: dict[str, tuple[int, int, int]]
    background: tuple[int, int, int]

    def mask(self, role: str) -> np.ndarray:
        return self.labels == ROLES.index(role)


def _pure(img: np.ndarray, need: int = 4, tol: float = 12.0) -> np.ndarray:
    """Pixels equal (within `tol` per channel) to at least `need` of their four neighbours [H, W] bool."""
    x = img.astype(np.int16)
    count = np.zeros(x.shape[:2], dtype=np.int64)
    for axis in (0, 1):
        d = np.abs(np.diff(x, axis=axis)).max(-1) <= tol
        pad = [(0, 0), (0, 0)]
        pad[axis] = (1, 0)
        count += np.pad(d, pad, constant_values=False)
        pad[axis] = (0, 1)
        count += np.pad(d, pad, constant_values=False)
    return count >= need


def _clusters(pixels: np.ndarray, max_parts: int = 6) -> list[np.ndarray]:
    """Greedy colour clusters of pixels [N, 3] (float): centres, most common first."""
    centres = []
    left = pixels
    floor = max(4, int(0.01 * len(pixels)))
    while len(left) >= floor and len(centres) < max_parts:
        codes = (left // 32).astype(np.int64) @ np.array([64, 8, 1])
        mode = np.bincount(codes).argmax()
        centre = np.median(left[codes == mode], axis=0)
        near = np.linalg.norm(left - centre, axis=1) < 45.0
        centre = np.median(left[near], axis=0)
        near = np.linalg.norm(left - centre, axis=1) < 45.0
        if near.sum() >= floor:
            centres.append(centre)
        left = left[~near]
    return centres


def segment(image) -> Segmentation:
    """Parts of one uint8 frame [H, W, 3] of a figure (see the module notes)."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[-1] != 3 or img.dtype != np.uint8:
        raise InvalidOptionError(f"expected one uint8 RGB frame [H, W, 3], got {img.dtype} {list(img.shape)}")
    f = img.astype(np.float32)
    border = np.concatenate([f[0], f[-1], f[:, 0], f[:, -1]])
    bg = np.median(border, axis=0)
    noisy = float(np.median(np.abs(border - bg))) > 1.0
    tol = 12.0
    if noisy:  # a generated frame: denoise keeping edges, and let "equal" allow for what noise is left
        import cv2

        img = cv2.medianBlur(img, 3)
        f = img.astype(np.float32)
        tol += 3.0 * 1.4826 * float(np.median(np.abs(np.concatenate([f[0], f[-1]]) - bg)))
    fg = np.linalg.norm(f - bg, axis=-1) > BG_DISTANCE
    pure = _pure(img, tol=tol) & fg
    centres = _clusters(f[pure])
    if len(centres) < len(ROLES) or noisy:  # thin (or blurred) limbs have few pixels equal to all neighbours
        pure = _pure(img, need=2, tol=tol) & fg
        centres = centres if len(centres) >= len(ROLES) else _clusters(f[pure])
    if len(centres) < len(ROLES):
        raise InvalidOptionError(
            f"found {len(centres)} part colour(s) in the frame; a figure has {len(ROLES)} "
            "(head, torso, arms, legs) in distinct flat colours on a plain background"
        )
    centres = centres[: len(ROLES)]
    dist = np.stack([np.linalg.norm(f - c, axis=-1) for c in centres])  # [4, H, W]
    nearest = dist.argmin(0)
    # a part pixel is near its colour, or (noisy, blurred thin limbs) at least nearer to it than to the background
    dmin, d_bg = dist.min(0), np.linalg.norm(f - bg, axis=-1)
    near = dmin < PART_DISTANCE
    if noisy:
        near |= (dmin < 2 * PART_DISTANCE) & (dmin < d_bg)
    labels = np.where(near, nearest, UNKNOWN)
    labels = np.where(fg, labels, BACKGROUND)
    labels = _near_core(labels, pure, len(centres))
    labels = _drop_specks(labels, len(centres))
    order = _roles([_largest(labels == k) for k in range(len(centres))])
    relabel = np.full(len(centres), UNKNOWN)
    for role_index, k in enumerate(order):
        relabel[k] = role_index
    out = np.where(labels >= 0, relabel[np.maximum(labels, 0)], labels)
    colours = {role: tuple(int(round(v)) for v in centres[k]) for role, k in zip(ROLES, order, strict=True)}
    return Segmentation(out.astype(np.int64), colours, tuple(int(round(v)) for v in bg))


def _near_core(labels: np.ndarray, pure: np.ndarray, n: int) -> np.ndarray:
    """Keep a part's label only within one pixel of its pure pixels: a run of edge mixes between two other
    colours (red leg on white reads as skin) is not a part."""
    import cv2

    out = labels.copy()
    kernel = np.ones((3, 3), np.uint8)
    for k in range(n):
        mine = labels == k
        near = cv2.dilate((mine & pure).astype(np.uint8), kernel).astype(bool)
        out[mine & ~near] = UNKNOWN
    return out


def _drop_specks(labels: np.ndarray, n: int, floor: int = 4) -> np.ndarray:
    """Set tiny islands of a part (mixes at edges between two other parts) to UNKNOWN."""
    import cv2

    out = labels.copy()
    for k in range(n):
        count, comp, stats, _ = cv2.connectedComponentsWithStats(
            (labels == k).astype(np.uint8), connectivity=8
        )
        small = np.nonzero(stats[:, cv2.CC_STAT_AREA] < floor)[0]
        small = small[small > 0]
        if len(small):
            out[np.isin(comp, small) & (labels == k)] = UNKNOWN
    return out


def _largest(mask: np.ndarray) -> np.ndarray:
    import cv2

    count, comp, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    return comp == 1 + int(stats[1:, cv2.CC_STAT_AREA].argmax())


def _roles(masks: list[np.ndarray]) -> list[int]:
    """Cluster index of head, torso, arms, legs (ROLES order): the two thickest parts (largest inscribed
    disc) are the head and the torso, and of those the head is the smaller one unless it is clearly less
    round (enclosing circle over inscribed one);
    the legs are the thin part farther from the head."""
    import cv2

    fits = []
    for m in masks:
        dt = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 5)
        r = float(dt.max())
        cy, cx = np.unravel_index(int(dt.argmax()), dt.shape)
        yy, xx = np.nonzero(m)
        if len(xx) < 3:
            fits.append((r, np.inf, np.array([cx, cy], dtype=np.float64)))
            continue
        # a disc (plus its short neck) is barely larger than its inscribed disc; a trapezoid's corners are not
        enclosing = cv2.minEnclosingCircle(np.stack([xx, yy], 1).astype(np.float32))[1]
        fits.append((r, enclosing / max(r, 0.5), np.array([cx, cy], dtype=np.float64)))
    thick = sorted(range(len(masks)), key=lambda k: -fits[k][0])
    # the head is the smaller of the two (a visible torso keeps at least twice a head's area, even behind
    # both arms), unless it is much less round (a torso shrunk to a stub by blur and occlusion)
    a, b = sorted(thick[:2], key=lambda k: masks[k].sum())
    head, torso = (a, b) if fits[a][1] < 1.25 * fits[b][1] else (b, a)
    c = fits[head][2]

    def spread(k):
        yy, xx = np.nonzero(masks[k])
        return float(np.median(np.hypot(xx - c[0], yy - c[1])))

    arms, legs = sorted(thick[2:], key=spread)
    return [head, torso, arms, legs]
