"""Recovering a figure's keypoints, colours and proportions from a frame: a fit of the articulated model.

After `segment` names the parts by colour:
1. head: the centre and radius of the largest disc inside the head part;
2. torso: a trapezoid (neck and pelvis points, half widths at the shoulders and the hips) fitted by
   coordinate descent to the torso pixels, starting from their principal axis (pointing to the head). Arm
   and head pixels, drawn over the torso, neither count for nor against it;
3. shoulders and hips: on the trapezoid's top and bottom edges, half a limb width in from the corners;
4. each pair of limbs (arms, then legs): a chain of two equal capsules from its shoulder (hip). Sampled
   points along every chain on a grid of angles rank the candidates; the best pairs are scored by their
   rendered union against the part's pixels (pixels covered that belong to the part minus pixels covered
   that contradict it minus part pixels left uncovered); coordinate descent refines the angles and the
   length. Parts drawn over a limb (the head over the arms; torso, arms and head over the legs) are neutral;
5. face points: fixed places on the head disc (`model.face_points`) facing the neck.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vitascope.synthetic.figures.model import ROLES, Figure, K, angle_of, face_points
from vitascope.synthetic.figures.segment import BACKGROUND, UNKNOWN, Segmentation, _largest, segment

_BEND_LIMIT = 150.0  # degrees: a joint never folds further than this (rules out a limb folded on itself)
_ROOTS = {"arms": (("left_shoulder", "left_elbow", "left_wrist"), ("right_shoulder", "right_elbow", "right_wrist")),
          "legs": (("left_hip", "left_knee", "left_ankle"), ("right_hip", "right_knee", "right_ankle"))}  # fmt: skip


@dataclasses.dataclass
class FigureFit:
    """keypoints [17, 2] (pixels); figure: recovered colours and proportions (standing height 1); height:
    the standing height in pixels; explained: fraction of foreground pixels the fitted model covers."""

    keypoints: np.ndarray
    figure: Figure
    height: float
    explained: float
    lengths: dict = dataclasses.field(default_factory=dict)  # pixels: arm, leg (whole limbs)


def _grid(shape):
    h, w = shape
    ys = (np.arange(h, dtype=np.float64) + 0.5)[:, None]
    xs = (np.arange(w, dtype=np.float64) + 0.5)[None, :]
    return xs, ys


def _head(seg: Segmentation):
    import cv2

    m = _largest(seg.mask("head")).astype(np.uint8)
    dt = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    r = float(dt.max())
    ys, xs = np.nonzero(dt > 0.6 * r)
    return np.array([xs.mean() + 0.5, ys.mean() + 0.5]), r + 0.5


def _trapezoid_inside(xs, ys, p) -> np.ndarray:
    nx, ny, px, py, a, b = p
    n, q = np.array([nx, ny]), np.array([px, py])
    d = q - n
    length = max(float(np.hypot(*d)), 1e-6)
    d = d / length
    left = np.array([d[1], -d[0]])
    along = (xs - n[0]) * d[0] + (ys - n[1]) * d[1]
    across = np.abs((xs - n[0]) * left[0] + (ys - n[1]) * left[1])
    half = a + (b - a) * np.clip(along / length, 0.0, 1.0)
    return (along >= 0) & (along <= length) & (across <= half)


def _fit_torso(seg: Segmentation, head_c: np.ndarray, xs, ys) -> np.ndarray:
    lab = seg.labels
    torso = lab == ROLES.index("torso")
    weight = np.where(torso, 1.0, -1.0)
    weight[(lab == ROLES.index("arms")) | (lab == ROLES.index("head")) | (lab == UNKNOWN)] = -0.05
    ty, tx = np.nonzero(torso)
    pts = np.stack([tx + 0.5, ty + 0.5], axis=1)
    m = pts.mean(0)
    up = (head_c - m) / max(float(np.linalg.norm(head_c - m)), 1e-6)  # the head sits on the torso's axis
    proj = (pts - m) @ up
    left = np.array([-up[1], up[0]])
    side = np.abs((pts - m) @ left)
    hi, lo = proj.max(), proj.min()
    span = hi - lo
    a = np.percentile(side[proj > hi - 0.2 * span], 95)
    b = np.percentile(side[proj < lo + 0.2 * span], 95)
    p = np.array([*(m + hi * up), *(m + lo * up), a, b])
    total = float(torso.sum())

    def score(q):
        inside = _trapezoid_inside(xs, ys, q)
        return float(weight[inside].sum()) - (total - float(torso[inside].sum()))

    return _descend(score, p, np.array([2.0, 2.0, 2.0, 2.0, 1.0, 1.0]), floor=0.12)


def _descend(score, p: np.ndarray, steps: np.ndarray, floor: float) -> np.ndarray:
    """Coordinate descent (ascent on `score`): try +- step per parameter, halve all steps when stuck."""
    best = score(p)
    steps = steps.astype(np.float64).copy()
    while steps.max() > floor:
        improved = False
        for i in range(len(p)):
            for sign in (1.0, -1.0):
                q = p.copy()
                q[i] += sign * steps[i]
                s = score(q)
                if s > best + 1e-9:
                    p, best, improved = q, s, True
                    break
        if not improved:
            steps *= 0.5
    return p


def _width(mask: np.ndarray) -> float:
    """Full width of a limb part: twice the median inscribed radius along its ridge (+1 for the
    anti-aliased rim that segmentation leaves unknown)."""
    import cv2

    dt = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    ridge = (dt >= cv2.dilate(dt, np.ones((3, 3), np.uint8))) & (dt > 0.9)
    if not ridge.any():
        return 2.0
    return 2.0 * float(np.median(dt[ridge])) + 0.5


def _chain(root, a1, bend, half, sign):
    """Elbow and wrist of a chain from root [2] with absolute angle a1 and relative bend (degrees)."""
    d1 = np.stack([np.sin(np.radians(a1)), np.cos(np.radians(a1))], -1)
    a2 = a1 + sign * bend
    d2 = np.stack([np.sin(np.radians(a2)), np.cos(np.radians(a2))], -1)
    mid = root + half[..., None] * d1
    return mid, mid + half[..., None] * d2


def _paint_capsule(covered: np.ndarray, a, b, r: float) -> None:
    """Set the pixels [H, W] whose centres lie in the capsule a-b of radius r (only its bounding box is
    computed)."""
    h, w = covered.shape
    x0, x1 = max(0, int(min(a[0], b[0]) - r)), min(w, int(max(a[0], b[0]) + r) + 1)
    y0, y1 = max(0, int(min(a[1], b[1]) - r)), min(h, int(max(a[1], b[1]) + r) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    xs = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5
    ys = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5
    ab = b - a
    u = ((xs - a[0]) * ab[0] + (ys - a[1]) * ab[1]) / max(float(ab @ ab), 1e-9)
    u = np.minimum(np.maximum(u, 0.0), 1.0)
    covered[y0:y1, x0:x1] |= (xs - a[0] - u * ab[0]) ** 2 + (ys - a[1] - u * ab[1]) ** 2 <= r * r


def _candidates(value: np.ndarray, root, half, sign, k: int = 10):
    """Top-k (a1, bend) by the mean part value at points sampled along both halves."""
    a1 = np.arange(0.0, 360.0, 6.0)
    bend = np.arange(-_BEND_LIMIT, _BEND_LIMIT + 1e-6, 10.0)
    A1, B = np.meshgrid(a1, bend, indexing="ij")
    mid, end = _chain(root, A1, B, np.full(A1.shape, half), sign)
    s = np.linspace(0.1, 1.0, 10)[:, None]
    pts = np.concatenate(
        [
            root + s[None, None] * (mid - root)[:, :, None],
            mid[:, :, None] + s[None, None] * (end - mid)[:, :, None],
        ],
        axis=2,
    )  # [A, B, 20, 2]
    h, w = value.shape
    ix = np.clip(np.floor(pts[..., 0]).astype(int), -1, w)
    iy = np.clip(np.floor(pts[..., 1]).astype(int), -1, h)
    padded = np.pad(value, 1, constant_values=-1.0)
    score = padded[iy + 1, ix + 1].mean(-1)  # [A, B]
    order = np.argsort(-score.ravel())
    out = []
    for idx in order:
        i, j = np.unravel_index(idx, score.shape)
        if all(abs(((a1[i] - x + 180) % 360) - 180) > 10 or abs(bend[j] - y) > 25 for x, y in out):
            out.append((float(a1[i]), float(bend[j])))
        if len(out) == k:
            break
    return out


def _fit_pair(seg: Segmentation, part: str, roots, half: float, width: float, xs, ys, free_length: bool):
    """Angles (a1, bend) per side and the half length of a pair of limbs."""
    lab = seg.labels
    mine = lab == ROLES.index(part)
    above = ("head",) if part == "arms" else ("torso", "arms", "head")
    value = np.where(mine, 1.0, -1.0)
    for role in above:
        value[lab == ROLES.index(role)] = 0.0
    value[lab == UNKNOWN] = 0.0
    r = width / 2.0
    total = float(mine.sum())

    def union_score(p):
        covered = np.zeros(mine.shape, dtype=bool)
        for side, sign in ((0, 1.0), (1, -1.0)):
            mid, end = _chain(
                roots[side], np.array(p[2 * side]), np.array(p[2 * side + 1]), np.array(p[4]), sign
            )
            _paint_capsule(covered, roots[side], mid, r)
            _paint_capsule(covered, mid, end, r)
        inside = value[covered]
        bend_penalty = 50.0 * sum(max(0.0, abs(p[i]) - _BEND_LIMIT) for i in (1, 3))
        return float(inside.sum()) - (total - float(mine[covered].sum())) - bend_penalty

    best, best_p = -np.inf, None
    for scale in (0.7, 0.85, 1.0, 1.15) if free_length else (1.0,):
        cands = [_candidates(value, roots[side], half * scale, 1.0 if side == 0 else -1.0) for side in (0, 1)]
        for lc in cands[0][:6]:
            for rc in cands[1][:6]:
                p = np.array([lc[0], lc[1], rc[0], rc[1], half * scale])
                s = union_score(p)
                if s > best:
                    best, best_p = s, p
    steps = np.array([4.0, 6.0, 4.0, 6.0, 1.0 if free_length else 0.0])
    return _descend(union_score, best_p, steps, floor=0.4)


def fit_figure(image, lengths: dict | None = None) -> FigureFit:
    """Fit the articulated model to one uint8 frame [H, W, 3]. `lengths` (pixels, from another frame of
    the same figure: FigureFit.lengths) fixes the limb lengths; otherwise they are fitted too."""
    seg = segment(image)
    xs, ys = _grid(seg.labels.shape)
    head_c, head_r = _head(seg)
    neck_x, neck_y, pel_x, pel_y, a, b = _fit_torso(seg, head_c, xs, ys)
    neck, pelvis = np.array([neck_x, neck_y]), np.array([pel_x, pel_y])
    d = (pelvis - neck) / max(float(np.linalg.norm(pelvis - neck)), 1e-6)
    left = np.array([d[1], -d[0]])
    arm_w, leg_w = _width(seg.mask("arms")), _width(seg.mask("legs"))
    kp = np.zeros((17, 2))
    kp[K["left_shoulder"]] = neck + max(a - arm_w / 2, 0.5) * left
    kp[K["right_shoulder"]] = neck - max(a - arm_w / 2, 0.5) * left
    kp[K["left_hip"]] = pelvis + max(b - leg_w / 2, 0.5) * left
    kp[K["right_hip"]] = pelvis - max(b - leg_w / 2, 0.5) * left
    torso_len = float(np.linalg.norm(pelvis - neck))
    found = {}
    for part, width, guess in (("arms", arm_w, 0.6 * torso_len), ("legs", leg_w, 0.75 * torso_len)):
        names = _ROOTS[part]
        roots = [kp[K[names[0][0]]], kp[K[names[1][0]]]]
        half = (lengths or {}).get(part, 2 * guess) / 2.0
        p = _fit_pair(seg, part, roots, half, width, xs, ys, free_length=lengths is None)
        found[part] = 2.0 * p[4]
        for side, sign in ((0, 1.0), (1, -1.0)):
            mid, end = _chain(
                roots[side], np.array(p[2 * side]), np.array(p[2 * side + 1]), np.array(p[4]), sign
            )
            kp[K[names[side][1]]], kp[K[names[side][2]]] = mid, end
    kp[:5] = face_points(head_c, head_r, angle_of(neck - head_c))
    neck_len = max(float(np.linalg.norm(neck - head_c)) - head_r, 0.5)
    height = 2 * head_r + neck_len + torso_len + found["legs"] + leg_w / 2
    figure = Figure(
        **{role: seg.colours[role] for role in ROLES},
        head_r=head_r / height,
        neck=neck_len / height,
        torso_len=torso_len / height,
        shoulder_w=2 * max(a - arm_w / 2, 0.5) / height,
        hip_w=2 * max(b - leg_w / 2, 0.5) / height,
        arm_half=found["arms"] / 2 / height,
        leg_half=found["legs"] / 2 / height,
        arm_w=arm_w / height,
        leg_w=leg_w / height,
    )
    fg = seg.labels != BACKGROUND
    return FigureFit(kp, figure, float(height), _explained(kp, figure, height, fg, xs, ys), found)


def _explained(kp, figure, height, fg, xs, ys) -> float:
    from vitascope.synthetic.figures.render import _layers

    covered = np.zeros(fg.shape, dtype=bool)
    for _colour, sdf in _layers(kp, figure, height, xs, ys):
        covered |= sdf < 0.5
    return float((covered & fg).sum() / max(1, fg.sum()))


def analyze_pose(image) -> np.ndarray:
    """COCO-17 keypoints [17, 2] (pixels) of the figure in one uint8 frame [H, W, 3]."""
    return fit_figure(image).keypoints


def recover_figure(image) -> tuple[Figure, float]:
    """The figure's colours and proportions (standing height 1) and its standing height in pixels."""
    fit = fit_figure(image)
    return fit.figure, fit.height


def analyze_video(frames) -> tuple[np.ndarray, Figure, float]:
    """Keypoints [T, 17, 2] of a figure in uint8 frames [T, H, W, 3], with its figure and height (pixels).
    Limb lengths are fitted on up to three frames, and their median is held fixed for every frame."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    probe = np.unique(np.linspace(0, len(frames) - 1, min(3, len(frames))).round().astype(int))
    fits = [fit_figure(frames[i]) for i in probe]
    lengths = {part: float(np.median([f.lengths[part] for f in fits])) for part in ("arms", "legs")}
    kps = np.stack([fit_figure(frame, lengths).keypoints for frame in frames])
    best = max(fits, key=lambda f: f.explained)
    return kps, best.figure, float(np.median([f.height for f in fits]))


def pck(pred, truth, height, alpha: float = 0.1) -> float:
    """Fraction of keypoints within alpha * height (pixels) of the truth; pred, truth [..., 17, 2]."""
    d = np.linalg.norm(np.asarray(pred, dtype=np.float64) - np.asarray(truth, dtype=np.float64), axis=-1)
    return float((d <= alpha * np.asarray(height, dtype=np.float64)[..., None]).mean())
