"""Render long paths of the shapes world for docs/synthetic_world.md.

    PYTHONPATH=src python3 scripts/render_long_samples.py --out docs/img/synthetic_long_paths.png

One row per long path (161 frames, 64x64): the first frame of each 17-frame window (every 16 frames) and
the last frame, with the canonical caption above. Deterministic.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vitascope.synthetic import canonical_caption, render, sample_scene

ROWS = [
    dict(seed=1, path="bounce", n_objects=1, background="black", colour="red", motion="moving right"),
    dict(seed=2, path="wrap", n_objects=2, background="black"),
    dict(seed=3, path="stop and go", n_objects=1, background="gray", motion="moving down"),
    dict(seed=4, path="mixed", n_objects=3, background="black"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img/synthetic_long_paths.png"))
    args = parser.parse_args()
    rows = []
    for row in ROWS:
        spec = sample_scene(frames=161, **row)
        video = render(spec)
        strip = np.concatenate(
            [np.pad(f, ((2, 2), (2, 2), (0, 0)), constant_values=255) for f in video[::16]], 1
        )
        canvas = Image.new("RGB", (strip.shape[1], strip.shape[0] + 28), (255, 255, 255))
        text = canonical_caption(spec)
        ImageDraw.Draw(canvas).text((2, 1), text[:120] + ("" if len(text) <= 120 else "..."), fill=(0, 0, 0))
        ImageDraw.Draw(canvas).text((2, 13), text[120:240], fill=(0, 0, 0))
        canvas.paste(Image.fromarray(strip), (0, 28))
        rows.append(np.asarray(canvas))
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate(
        [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out)


if __name__ == "__main__":
    main()
