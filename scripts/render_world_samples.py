"""Render a contact sheet of synthetic-world samples for docs/synthetic_world.md.

    PYTHONPATH=src python3 scripts/render_world_samples.py --out docs/img/synthetic_world_samples.png

One row per scene (frames 0, 4, 8, 12, 16 of a 17-frame 64x64 clip, scaled 2x), with its canonical caption
underneath. Deterministic: the same seeds give the same picture.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vitascope.synthetic import canonical_caption, render, sample_scene

# Seeds and constraints chosen to show every camera move, motion and background at least once.
ROWS = [
    dict(seed=1, colour="red", shape="circle", motion="moving right", background="black"),
    dict(seed=2, colour="yellow", shape="triangle", motion="moving up", background="blue"),
    dict(seed=3, colour="green", shape="square", motion="moving left", background="white"),
    dict(seed=4, colour="white", shape="circle", motion="moving down", background="gray"),
    dict(
        seed=5,
        colour="blue",
        shape="triangle",
        motion="staying still",
        background="checkered",
        camera="panning right",
    ),
    dict(
        seed=6, colour="red", shape="square", motion="moving right", background="dotted", camera="zooming in"
    ),
    dict(seed=7, n_objects=2, background="checkered", camera="zooming out"),
    dict(seed=8, n_objects=2, background="black", camera="static"),
]


def contact_sheet(frames_shown=(0, 4, 8, 12, 16), scale: int = 2) -> Image.Image:
    tiles, captions = [], []
    for row in ROWS:
        row = dict(row)
        seed = row.pop("seed")
        spec = sample_scene(seed, frames=17, height=64, width=64, **row)
        video = render(spec)
        strip = np.concatenate(
            [np.pad(video[i], ((2, 2), (2, 2), (0, 0)), constant_values=200) for i in frames_shown], 1
        )
        tiles.append(strip.repeat(scale, 0).repeat(scale, 1))
        captions.append(canonical_caption(spec))
    text_h = 16
    width = tiles[0].shape[1]
    sheet = Image.new("RGB", (width, sum(t.shape[0] + text_h for t in tiles)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    y = 0
    for tile, caption in zip(tiles, captions, strict=False):
        sheet.paste(Image.fromarray(tile), (0, y))
        draw.text((4, y + tile.shape[0] + 2), caption, fill=(0, 0, 0))
        y += tile.shape[0] + text_h
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/img/synthetic_world_samples.png")
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet().save(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
