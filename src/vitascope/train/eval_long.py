"""`vitascope eval --task long`: 10x-native videos of the world's wrapping motion, generated in context
windows and scored against the issue's targets.

Each case is one object of a canonical colour, shape and direction on black, moving straight and wrapping
round the frame (`sample_scene(path="wrap")`), so every window has the prompted motion. Measured per video:
colour and shape per frame and motion per window (`synthetic.long.score_long`), seams (the frame-to-frame
change where a window starts, over the median change) and drift (the object's area and CIELAB colour in the
last native-length window against the first).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TARGETS = {
    "colour": 0.95,
    "shape": 0.90,
    "motion": 1.0,
    "seam": 2.0,
    "size_drift": 0.15,
    "colour_drift": 10.0,
}


def frame_changes(frames: np.ndarray) -> np.ndarray:
    """Mean absolute change between consecutive uint8 frames, [F - 1] (change[i]: frame i -> i + 1)."""
    f = frames.astype(np.float32)
    return np.abs(f[1:] - f[:-1]).mean(axis=(1, 2, 3))


def seam_ratio(frames: np.ndarray, window_starts: list[int]) -> float:
    """The largest change into a window's first frame, over the median change of the video."""
    ch = frame_changes(frames)
    med = float(np.median(ch)) or 1e-6
    at = [ch[s - 1] for s in window_starts if 0 < s < len(frames)]
    return float(max(at) / med) if at else 0.0


def _object_stats(frames: np.ndarray, threshold: int = 48) -> tuple[float, np.ndarray]:
    """Foreground (any channel above `threshold` on black) area per frame and its mean CIELAB colour."""
    import cv2

    mask = frames.max(axis=-1) > threshold  # [F, H, W]
    area = float(mask.sum(axis=(1, 2)).mean())
    pix = frames[mask].astype(np.float32) / 255.0 if mask.any() else np.zeros((1, 3), np.float32)
    lab = cv2.cvtColor(pix.mean(axis=0).reshape(1, 1, 3), cv2.COLOR_RGB2LAB)[0, 0]
    return area, lab


def drift(frames: np.ndarray, native: int) -> dict:
    """Area change (fraction) and colour difference (CIE76 delta E) of the last native window vs the first."""
    a0, lab0 = _object_stats(frames[:native])
    a1, lab1 = _object_stats(frames[-native:])
    return {"size_drift": abs(a1 - a0) / max(a0, 1.0), "colour_drift": float(np.linalg.norm(lab1 - lab0))}


def long_cases(n: int, seed: int, frames: int, height: int, width: int) -> list[dict]:
    from vitascope.synthetic.world import COLOURS, SHAPES, sample_scene

    rng = np.random.default_rng([seed, 13])
    moving = ("moving left", "moving right", "moving up", "moving down")
    cases = []
    for _ in range(n):
        c, s, m = (str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES)), str(rng.choice(moving)))
        gen_seed = int(rng.integers(10**6, 2 * 10**6))
        spec = sample_scene(
            gen_seed,
            frames,
            height,
            width,
            n_objects=1,
            path="wrap",
            shape=s,
            colour=c,
            motion=m,
            background="black",
        )
        cases.append({"prompt": f"a {c} {s} {m} on a black background", "seed": gen_seed, "spec": spec})
    return cases


def run_long_eval(
    pipe, n: int, seed: int, workdir, factor: int = 10, steps=None, modes=("i2v",), window=None
):
    """Generate and score `n` cases per mode at `factor` x the native length; returns (rows, first video)."""
    from PIL import Image

    from vitascope.pipelines.options import GenerationOptions
    from vitascope.synthetic.long import analyze_long, score_long
    from vitascope.synthetic.render import render

    d = pipe.defaults
    frames = 4 * ((factor * d.frames - 1) // 4) + 1
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows, example = [], None
    for i, case in enumerate(long_cases(n, seed, frames, d.height, d.width)):
        for mode in modes:
            kw = {"extra": {"window": window}} if window else {}
            if mode == "i2v":
                path = workdir / f"long_input_{i:03d}.png"
                Image.fromarray(render(case["spec"])[0]).save(path)
                kw.update(task="i2v", image=str(path), height=d.height, width=d.width)
            res = pipe.generate(
                GenerationOptions(case["prompt"], frames=frames, seed=case["seed"], steps=steps, **kw)
            )
            video = res.frames
            score = score_long(analyze_long(video, wrap=True, background="black"), case["spec"])
            starts = [r[0] for r in res.metadata["windows"]["pixel_ranges"][1:]]
            row = {
                "mode": mode,
                "prompt": case["prompt"],
                "seed": case["seed"],
                "frames": frames,
                **{k: score[k] for k in ("colour", "shape", "motion")},
                "seam": seam_ratio(video, starts),
                **drift(video, d.frames),
            }
            rows.append(row)
            log.info("long %s %s -> %s", mode, case["prompt"], row)
            if example is None:
                example = (video, res.metadata["windows"], case["prompt"])
    return rows, example


def long_table(rows: list[dict]) -> str:
    """Mean and worst of each figure beside its target."""
    if not rows:
        return ""
    lines = ["| figure | target | mean | worst | met (all cases) |", "|---|---|---|---|---|"]
    for key, target in TARGETS.items():
        vals = np.array([r[key] for r in rows], dtype=np.float64)
        higher = key in ("colour", "shape", "motion")
        worst = vals.min() if higher else vals.max()
        met = worst >= target if higher else worst <= target
        cmp = ">=" if higher else "<="
        lines.append(
            f"| {key} | {cmp} {target:g} | {vals.mean():.3g} | {worst:.3g} | {'yes' if met else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def window_strip(video: np.ndarray, record: dict, path, per_window: int = 1) -> Path:
    """A picture of a long video across its windows: the first frame of each window (step 0), labelled."""
    from PIL import Image, ImageDraw

    starts = [0] + [r[0] for r in record["pixel_ranges"]]
    starts = sorted(set(s for s in starts if s < len(video)))[:: max(1, per_window)]
    h, w = video.shape[1:3]
    scale = max(1, 96 // h)
    canvas = Image.new("RGB", (len(starts) * (w * scale + 4), h * scale + 14), "white")
    draw = ImageDraw.Draw(canvas)
    for j, s in enumerate(starts):
        tile = Image.fromarray(video[s]).resize((w * scale, h * scale), Image.NEAREST)
        canvas.paste(tile, (j * (w * scale + 4), 14))
        draw.text((j * (w * scale + 4) + 2, 1), f"f{s}", fill="black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
