"""Procedural test videos for the curation tests (not a test module).

Scenes are crops of a large random texture (smooth colour noise plus sharp shapes) seen through a virtual
camera homography, so shot detection, focus measures and optical flow all have real structure to work on.
Camera conventions match vitascope.curate.motion: a pan left moves the scene right in the frame, etc.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vitascope.media import write_video

W, H, FPS = 160, 96, 24


def texture(seed: int, size: tuple[int, int] = (480, 320)) -> np.ndarray:
    """uint8 RGB [h, w, 3]: multi-scale colour noise with random sharp-edged shapes on top."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = np.zeros((h, w, 3), np.float32)
    for scale, amp in ((64, 1.0), (16, 0.5), (4, 0.25)):
        small = rng.random((max(2, h // scale), max(2, w // scale), 3)).astype(np.float32)
        img += amp * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img = (img - img.min()) / (img.max() - img.min()) * 200 + 30
    for _ in range(60):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(3, 18))
        if rng.random() < 0.5:
            cv2.circle(img, (x, y), r, colour, -1)
        else:
            cv2.rectangle(img, (x, y), (x + r, y + int(rng.integers(3, 18))), colour, -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def camera_homography(kind: str, t: float, amount: float = 1.0, rng: np.random.Generator | None = None):
    """3x3 map from frame coordinates (centred, half-width units) to where the scene moved at time t (s)."""
    a = amount * t
    m = np.eye(3)
    if kind == "pan left":
        m[0, 2] = 0.6 * a
    elif kind == "pan right":
        m[0, 2] = -0.6 * a
    elif kind == "pan up":
        m[1, 2] = 0.6 * a
    elif kind == "pan down":
        m[1, 2] = -0.6 * a
    elif kind in ("zoom in", "zoom out"):
        s = np.exp((0.35 if kind == "zoom in" else -0.35) * a)
        m[0, 0] = m[1, 1] = s
    elif kind in ("tilt left", "tilt right"):
        th = (0.35 if kind == "tilt left" else -0.35) * a
        m[:2, :2] = [[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]
    elif kind in ("around left", "around right"):
        m[2, 0] = (0.35 if kind == "around left" else -0.35) * a
    elif kind in ("tilt up", "tilt down"):
        m[2, 1] = (-0.35 if kind == "tilt up" else 0.35) * a
    elif kind == "handheld shot":
        assert rng is not None
        m[0, 2], m[1, 2] = rng.normal(0, 0.025, 2)
        th = rng.normal(0, 0.01)
        m[:2, :2] = [[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]
    elif kind != "static shot":
        raise ValueError(kind)
    return m


def render_camera(kind: str, seed: int = 0, seconds: float = 1.5, size=(W, H), fps: int = FPS) -> np.ndarray:
    """uint8 frames [F, H, W, 3] of one shot with the given camera motion (one of the 14 class names)."""
    tex = texture(seed)
    th, tw = tex.shape[:2]
    w, h = size
    s = max(w, h) / 2.0
    # frame pixel -> centred units, and centred units -> texture pixel (frame shows the texture centre)
    to_c = np.array([[1 / s, 0, -(w - 1) / (2 * s)], [0, 1 / s, -(h - 1) / (2 * s)], [0, 0, 1]])
    to_tex = np.array([[s, 0, (tw - 1) / 2], [0, s, (th - 1) / 2], [0, 0, 1]])
    rng = np.random.default_rng(seed + 1000)
    frames = []
    for i in range(int(round(seconds * fps))):
        cam = camera_homography(kind, i / fps, rng=rng)
        # the scene point at c appears at cam @ c, so each frame pixel samples the texture at cam^-1
        full = to_tex @ np.linalg.inv(cam) @ to_c
        frames.append(
            cv2.warpPerspective(
                tex,
                full,
                (w, h),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT,
            )  # fmt: skip
        )
    return np.stack(frames)


def pan_shot(seed: int, n: int, speed: float = 2.0, size=(W, H)) -> np.ndarray:
    """A gently panning shot of one texture: enough motion to pass the static filter."""
    tex = texture(seed)
    w, h = size
    return np.stack([tex[40 : 40 + h, 40 + int(i * speed) : 40 + int(i * speed) + w] for i in range(n)])


def write(frames: np.ndarray, path: Path, fps: int = FPS) -> Path:
    return write_video(frames, path, fps=fps, crf=18)


# ---- defect clips: each is a gently panning textured shot with one defect added --------------------------


def blurred(frames: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in frames])


def darkened(frames: np.ndarray, gain: float = 0.12) -> np.ndarray:
    return (frames.astype(np.float32) * gain).astype(np.uint8)


def letterboxed(frames: np.ndarray, bar: int = 14) -> np.ndarray:
    out = frames.copy()
    out[:, :bar] = 0
    out[:, -bar:] = 0
    return out


def subtitled(frames: np.ndarray, text: str = "We will meet again tomorrow") -> np.ndarray:
    out = frames.copy()
    h, w = out.shape[1:3]
    for f in out:
        cv2.putText(f, text, (6, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.putText(f, text, (6, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def watermarked(frames: np.ndarray) -> np.ndarray:
    """A semi-opaque logo (ring + letters) burnt into the top-right corner of every frame."""
    out = frames.copy()
    w = out.shape[2]
    for f in out:
        logo = f.copy()
        cv2.circle(logo, (w - 18, 16), 10, (255, 255, 255), 2)
        cv2.putText(logo, "TV", (w - 46, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 2)
        f[:] = cv2.addWeighted(logo, 0.8, f, 0.2, 0)
    return out


def with_cuts(seeds: list[int], lengths: list[int]) -> tuple[np.ndarray, list[int]]:
    """Shots of different textures back to back; returns the frames and the true cut frame indices."""
    shots = [pan_shot(s, n) for s, n in zip(seeds, lengths, strict=False)]
    return np.concatenate(shots), list(np.cumsum(lengths)[:-1])


def sharp_after_blur(seed: int, n: int, blurred_frames: int) -> np.ndarray:
    """A shot whose first frames are out of focus (a focus pull): the sharpest start lies after them."""
    frames = pan_shot(seed, n)
    frames[:blurred_frames] = blurred(frames[:blurred_frames], 4.0)
    return frames


# name -> (frames builder, reason expected in the manifest or None for a clean clip)
DEFECTS = {
    "clean": (lambda: pan_shot(5, 36), None),
    "clean_copy": (lambda: pan_shot(5, 36), "duplicate"),  # same content as clean: one of the two is dropped
    "blurred": (lambda: blurred(pan_shot(6, 36)), "blurry"),
    "dark": (lambda: darkened(pan_shot(7, 36)), "underexposed"),
    "static": (lambda: np.repeat(pan_shot(8, 1), 36, 0), "static"),
    "letterboxed": (lambda: letterboxed(pan_shot(9, 36)), "letterbox_cropped"),
    "subtitled": (lambda: subtitled(pan_shot(10, 36)), "subtitles_cropped"),
    "watermarked": (lambda: watermarked(pan_shot(11, 36)), "watermark"),
}


def build_folder(root: Path) -> dict[str, str | None]:
    """Write the defect clips, a three-shot video, a corrupt and a truncated file into root."""
    root.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (make, reason) in DEFECTS.items():
        write(make(), root / f"{name}.mp4")
        expected[f"{name}.mp4"] = reason
    frames, _ = with_cuts([21, 22, 23], [30, 28, 32])
    write(frames, root / "sub" / "three_shots.mp4")
    (root / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    data = (root / "clean.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "notes.txt").write_text("not a video; ignored")
    return expected


def cartoon_faces(centres, size: float, frame=(240, 160), n: int = 3) -> np.ndarray:
    """n frames of drawn frontal faces (skin oval, brows, eyes, nose, mouth, hair) at `centres` (pixels),
    `size` ~ face height / 100 pixels, on a flat dark background: enough structure for OpenCV's Haar
    frontal-face cascade, which is what the people stage must find."""
    import cv2

    w, h = frame
    img = np.full((h, w, 3), 60, np.uint8)
    s = size
    for cx, cy in centres:

        def p(dx, dy, cx=cx, cy=cy):
            return (int(cx + dx * s), int(cy + dy * s))

        cv2.ellipse(img, (cx, cy), (int(38 * s), int(50 * s)), 0, 0, 360, (200, 170, 150), -1)
        for dx in (-16, 16):
            cv2.ellipse(img, p(dx, -10), (int(8 * s), int(4 * s)), 0, 0, 360, (40, 30, 30), -1)
            cv2.line(img, p(dx - 10, -22), p(dx + 10, -22), (60, 40, 30), max(1, int(3 * s)))
        cv2.line(img, p(0, -5), p(0, 12), (170, 140, 120), max(1, int(3 * s)))
        cv2.ellipse(img, p(0, 25), (int(14 * s), int(5 * s)), 0, 0, 360, (120, 50, 50), -1)
        cv2.ellipse(img, p(0, -45), (int(40 * s), int(16 * s)), 0, 180, 360, (50, 35, 25), -1)
    img = cv2.GaussianBlur(img, (5, 5), 1.5)
    return np.repeat(img[None], n, 0)
