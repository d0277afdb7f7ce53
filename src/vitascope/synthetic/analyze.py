"""Measure any clip of the world's kind: per object colour, shape and trajectory, and the camera motion.

Works on rendered ground truth and on generated clips (blurry, noisy, small). Steps:
1. background: the named one, or the vocabulary background that best explains the frame borders;
2. foreground: pixels far (in RGB) from every background tone; connected components per frame;
3. per component: object colour = median of its core pixels, named by the nearest palette hue (white when
   unsaturated); a soft coverage map (projection of each pixel between background and object colour);
   shape = the area-matched template (circle, square or triangle at several rotations, sharp or blurred)
   closest to that coverage. Contour vertex counts are unreliable at 6-pixel radii; templates are not;
4. tracking by colour and proximity; the camera from the background (see camera.py);
5. motion: net displacement of the camera-compensated centroid (least-squares line through the track),
   still when under STILL of the frame size, else its dominant direction.
"""

from __future__ import annotations

import colorsys
import dataclasses
import math

import numpy as np

from vitascope.errors import InvalidOptionError
from vitascope.synthetic import world
from vitascope.synthetic.camera import CameraTrack, estimate_camera
from vitascope.synthetic.render import shape_sdf

FG_DISTANCE = 60.0  # RGB distance from every background tone that makes a pixel foreground
STILL = 0.15  # net displacement (fraction of the frame) under which an object counts as still
CAMERA_MIN = 0.4  # fraction of the world's pan / zoom under which the camera counts as static
_AREA_PER_R2 = {  # area of each template shape over radius^2 (see world.BOUND and render.shape_sdf)
    "circle": math.pi,
    "square": (2 * world.SQUARE_HALF) ** 2,
    "triangle": 3 * math.sqrt(3) / 4 * world.TRIANGLE_CIRCUM**2,
}
_ROTATIONS = {"circle": (0.0,), "square": tuple(range(0, 90, 15)), "triangle": tuple(range(0, 120, 15))}
_SHAPE_FRAMES = 9  # shape is voted over at most this many frames per object


@dataclasses.dataclass
class Analysis:
    """What `analyze` measured. objects: dicts with colour, shape, motion, trajectory [(x, y)] in image
    pixels per frame (pixel (i, j) covers [j, j+1) x [i, i+1)), displacement (dx/W, dy/H) after camera
    compensation, and area (mean pixels); largest first. camera: one of world.CAMERAS. A single image
    (frames == 1) always reads as staying still with a static camera."""

    objects: list[dict]
    camera: str
    background: str
    camera_track: CameraTrack | None = None
    frames: int = 1


def _as_video(video, what: str = "analyze") -> np.ndarray:
    """uint8 RGB frames [T, H, W, 3] (one [H, W, 3] image becomes one frame); a clear error otherwise."""
    video = np.asarray(video)
    if video.ndim == 3:
        video = video[None]
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
        raise InvalidOptionError(
            f"{what} expects uint8 RGB frames [T, H, W, 3] (or one [H, W, 3] image); got {video.dtype} {video.shape}"
        )
    return video


def _border(video: np.ndarray) -> np.ndarray:
    """The 2-pixel frame border of up to ~8 frames as [N, 3] float32 pixels."""
    f = video[:: max(1, len(video) // 8)].astype(np.float32)
    sides = (f[:, :2], f[:, -2:], f[:, :, :2], f[:, :, -2:])
    return np.concatenate([side.reshape(-1, 3) for side in sides])


def _background_tones(border: np.ndarray, name: str | None) -> tuple[str, np.ndarray]:
    if name is not None:
        if name not in world.BACKGROUNDS:
            raise InvalidOptionError(
                f"unknown background {name!r}; choose one of: {', '.join(world.BACKGROUNDS)}"
            )
        return name, np.array(world.BACKGROUNDS[name], dtype=np.float32)
    best, best_score = "unknown", np.inf
    for bg, tones in world.BACKGROUNDS.items():
        tones = np.array(tones, dtype=np.float32)
        if len(tones) == 2:
            # a two-tone backdrop must show both tones, or a tinted plain one could pass for it
            nearer = np.linalg.norm(border - tones[1], axis=-1) < np.linalg.norm(border - tones[0], axis=-1)
            if not 0.05 <= nearer.mean() <= 0.95:
                continue
        d = _background_at(border, tones)[1]
        score = float(np.minimum(d, 100.0).mean())  # clipped: an object touching the border must not decide
        if score < best_score:
            best, best_score = bg, score
    if best_score > 35.0:  # none fits: a generated clip with an off-palette backdrop
        return "unknown", np.median(border, axis=0, keepdims=True)
    return best, np.array(world.BACKGROUNDS[best], dtype=np.float32)


def _fg_threshold(border: np.ndarray, tones: np.ndarray) -> float:
    """FG_DISTANCE, raised on noisy clips so background noise stays background (1.5x the border's 90th
    percentile distance; capped below the closest object/background pair, about 138)."""
    d = _background_at(border, tones)[1]
    return float(np.clip(1.5 * np.percentile(d, 90), FG_DISTANCE, 100.0))


def colour_name(rgb, palette: dict[str, tuple[int, int, int]] | None = None) -> str:
    """Nearest palette colour by hue (`palette`: default the world's five, `world.ALL_COLOURS` adds the
    colours it never draws at random); unsaturated light colours are white."""
    r, g, b = (float(v) / 255.0 for v in rgb)
    hue, sat, val = colorsys.rgb_to_hsv(r, g, b)
    if sat < 0.3:
        return "white"
    best, best_d = "red", 9.0
    for name, ref in (palette or world.COLOURS).items():
        if name == "white":
            continue
        ref_h = colorsys.rgb_to_hsv(*(v / 255.0 for v in ref))[0]
        d = abs(hue - ref_h)
        d = min(d, 1.0 - d)
        if d < best_d:
            best, best_d = name, d
    return best


def _templates_error(alpha: np.ndarray, cx: float, cy: float, area: float) -> dict[str, float]:
    """Smallest |alpha - template| (summed, over the area) per shape over rotations and three blur levels."""
    import cv2

    h, w = alpha.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    dx, dy = xs - cx, ys - cy
    out = {}
    for shape, per_r2 in _AREA_PER_R2.items():
        radius = math.sqrt(area / per_r2)
        best = np.inf
        for deg in _ROTATIONS[shape]:
            c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
            tpl = np.clip(0.5 - shape_sdf(shape, c * dx + s * dy, -s * dx + c * dy, radius), 0.0, 1.0)
            for sigma in (0.0, 0.8, 1.6):
                t = cv2.GaussianBlur(tpl, (0, 0), sigma) if sigma else tpl
                best = min(best, float(np.abs(alpha - t).sum()))
        out[shape] = best / max(area, 1e-6)
    return out


def _measure(frame, dist, bg_all, labels, index, stats, want_shape, palette=None):
    """One component -> dict(colour, x, y, area, shape errors or None)."""
    import cv2

    x0, y0, bw, bh, _ = stats[index]
    pad = 3
    x1, y1 = min(frame.shape[1], x0 + bw + pad), min(frame.shape[0], y0 + bh + pad)
    x0, y0 = max(0, x0 - pad), max(0, y0 - pad)
    lab = labels[y0:y1, x0:x1]
    own = (lab == index).astype(np.uint8)
    region = cv2.dilate(own, np.ones((5, 5), np.uint8)).astype(bool) & ((lab == 0) | (lab == index))
    pix = frame[y0:y1, x0:x1].astype(np.float32)
    d = dist[y0:y1, x0:x1]
    core = own.astype(bool) & (d >= np.percentile(d[own.astype(bool)], 60))
    colour = np.median(pix[core], axis=0)
    bg = bg_all[y0:y1, x0:x1]
    span = colour - bg
    alpha = np.clip((((pix - bg) * span).sum(-1)) / np.maximum((span * span).sum(-1), 1.0), 0.0, 1.0) * region
    area = float(alpha.sum())
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
    cx, cy = float((alpha * xs).sum() / area), float((alpha * ys).sum() / area)
    errors = _templates_error(alpha, cx - x0, cy - y0, area) if want_shape else None
    return {"colour": colour_name(colour, palette), "x": cx, "y": cy, "area": area, "errors": errors}


def _background_at(f: np.ndarray, tones: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest background colour [H, W, 3] to each pixel of f [H, W, 3] and the distance to it [H, W].

    A two-tone background is every mix of its tones (its anti-aliased edges are), so the closest colour is
    the projection onto the segment between them, not the nearer tone."""
    if len(tones) == 1:
        bg = np.broadcast_to(tones[0], f.shape)
    else:
        a, b = tones[0], tones[1]
        u = np.clip(((f - a) @ (b - a)) / float((b - a) @ (b - a)), 0.0, 1.0)[..., None]
        bg = a + u * (b - a)
    return bg, np.linalg.norm(f - bg, axis=-1)


def _components(frame, tones, threshold, want_shape, palette=None):
    import cv2

    bg, dist = _background_at(frame.astype(np.float32), tones)
    fg = (dist > threshold).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    h, w = fg.shape
    areas = stats[1:, cv2.CC_STAT_AREA]
    if n <= 1:
        return [], dist
    floor = max(6.0, 0.002 * h * w, 0.15 * float(areas.max()))
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= floor]
    return [_measure(frame, dist, bg, labels, i, stats, want_shape, palette) for i in keep], dist


def _track(per_frame: list[list[dict]], scale: float) -> list[dict]:
    """Greedy frame-to-frame linking: same colour preferred, then nearest predicted position."""
    tracks: list[dict] = []
    for t, comps in enumerate(per_frame):
        free = list(range(len(comps)))
        for tr in sorted(tracks, key=lambda tr: -len(tr["obs"])):
            if not free:
                break
            (t1, last), prev = tr["obs"][-1], (tr["obs"][-2] if len(tr["obs"]) > 1 else None)
            px, py = last["x"], last["y"]
            if prev is not None:  # constant-velocity prediction
                k = (t - t1) / max(1, t1 - prev[0])
                px, py = px + k * (last["x"] - prev[1]["x"]), py + k * (last["y"] - prev[1]["y"])
            cost = [
                math.hypot(comps[i]["x"] - px, comps[i]["y"] - py)
                + (0 if comps[i]["colour"] == last["colour"] else scale)
                for i in free
            ]
            j = int(np.argmin(cost))
            if cost[j] < 0.5 * scale + scale * (comps[free[j]]["colour"] != last["colour"]):
                tr["obs"].append((t, comps[free.pop(j)]))
        tracks.extend({"obs": [(t, comps[i])]} for i in free)
    return tracks


def _motion(world_xy: np.ndarray, width: int, height: int) -> tuple[str, tuple[float, float]]:
    t = np.arange(len(world_xy), dtype=np.float64)
    if len(world_xy) < 2:
        return "staying still", (0.0, 0.0)
    slope = np.polyfit(t, world_xy, 1)[0]  # [2]: pixels per frame for x and y
    dx, dy = slope[0] * t[-1] / width, slope[1] * t[-1] / height
    if max(abs(dx), abs(dy)) < STILL:
        return "staying still", (float(dx), float(dy))
    if abs(dx) >= abs(dy):
        return ("moving right" if dx > 0 else "moving left"), (float(dx), float(dy))
    return ("moving down" if dy > 0 else "moving up"), (float(dx), float(dy))


def _camera_name(track: CameraTrack, width: int) -> str:
    pan = abs(track.shift[-1, 0]) / width / world.PAN
    zoom = abs(math.log(track.zoom[-1])) / math.log(world.ZOOM)
    if max(pan, zoom) < CAMERA_MIN:
        return "static"
    if zoom > pan:
        return "zooming in" if track.zoom[-1] > 1 else "zooming out"
    return "panning right" if track.shift[-1, 0] < 0 else "panning left"


def _vote(values: list[str]) -> str:
    names, counts = np.unique(values, return_counts=True)
    return str(names[int(counts.argmax())])


def analyze(video, background: str | None = None, colours: dict | None = None) -> Analysis:
    """Measure objects and camera of uint8 frames [T, H, W, 3] (or one image [H, W, 3]). `colours`: the
    palette objects are named from (default the world's five; `world.ALL_COLOURS` adds purple, orange, pink)."""
    import cv2

    video = _as_video(video)
    t, h, w, _ = video.shape
    border = _border(video)
    bg_name, tones = _background_tones(border, background)
    threshold = _fg_threshold(border, tones)
    shape_frames = set(np.linspace(0, t - 1, min(t, _SHAPE_FRAMES)).round().astype(int).tolist())
    per_frame, valid = [], np.zeros((t, h, w), dtype=bool)
    for i in range(t):
        comps, dist = _components(video[i], tones, threshold, i in shape_frames, colours)
        per_frame.append(comps)
        # the camera is measured on background only: drop the foreground and a 3-pixel halo (blur)
        near = cv2.dilate((dist > threshold).astype(np.uint8), np.ones((7, 7), np.uint8))
        valid[i] = near == 0
    gray = video.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    cam = estimate_camera(gray, valid)
    camera = _camera_name(cam, w) if cam.textured else "static"
    objects = []
    for tr in _track(per_frame, float(min(h, w))):
        if len(tr["obs"]) < max(1, 0.5 * t):
            continue
        ts = np.array([o[0] for o in tr["obs"]])
        xy = np.array([[o[1]["x"], o[1]["y"]] for o in tr["obs"]])
        full = np.stack([np.interp(np.arange(t), ts, xy[:, k]) for k in range(2)], axis=1)  # [T, 2]
        motion, disp = _motion(cam.to_frame0(full, (w / 2.0, h / 2.0)), w, h)
        shape_votes = [min(o[1]["errors"], key=o[1]["errors"].get) for o in tr["obs"] if o[1]["errors"]]
        objects.append(
            {
                "colour": _vote([o[1]["colour"] for o in tr["obs"]]),
                "shape": _vote(shape_votes) if shape_votes else "circle",
                "motion": motion,
                "trajectory": [(float(x), float(y)) for x, y in full],
                "displacement": disp,
                "area": float(np.mean([o[1]["area"] for o in tr["obs"]])),
            }
        )
    objects.sort(key=lambda o: -o["area"])
    return Analysis(objects, camera, bg_name, cam, t)
