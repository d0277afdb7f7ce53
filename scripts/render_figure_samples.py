"""Render the figure world's contact sheet for docs/figure_world.md.

    PYTHONPATH=src python3 scripts/render_figure_samples.py --out docs/img/figure_world_templates.png

One block per motion template: six frames of a sampled figure doing it (top), the skeleton images drawn from
the same keypoints (middle), and the skeleton the analyzer reads back from each rendered frame (bottom).
Deterministic: the same seeds give the same picture.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vitascope.synthetic.figures import (
    TEMPLATES,
    draw_skeleton,
    fit_figure,
    max_height,
    motion_keypoints,
    render_figure,
    sample_figure,
    template,
)

BACKGROUNDS = ("black", "white", "gray", "navy", "black", "gray")


def block(index: int, name: str, size=(96, 96), columns: int = 6) -> np.ndarray:
    figure = sample_figure(index + 3, BACKGROUNDS[index])
    motion = template(name)
    height = max_height(motion, figure, size, largest=0.8 * size[0])
    kp = motion_keypoints(motion, figure, height, size)
    idx = np.linspace(0, len(motion) - 1, columns).round().astype(int)
    frames = render_figure(figure, kp[idx], height, size, BACKGROUNDS[index])
    skeletons = draw_skeleton(kp[idx], size)
    read = draw_skeleton(np.stack([fit_figure(f).keypoints for f in frames]), size)
    rows = [np.concatenate(list(x), axis=1) for x in (frames, skeletons, read)]
    return np.concatenate(rows, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img/figure_world_templates.png"))
    args = parser.parse_args()
    label_h, pad = 14, 6
    blocks = []
    for i, name in enumerate(TEMPLATES):
        body = block(i, name)
        canvas = Image.new("RGB", (body.shape[1], body.shape[0] + label_h + pad), (255, 255, 255))
        ImageDraw.Draw(canvas).text((2, 1), f"{name}: frames / skeletons / analyzer reading", fill=(0, 0, 0))
        canvas.paste(Image.fromarray(body), (0, label_h))
        blocks.append(np.asarray(canvas))
    half = (len(blocks) + 1) // 2
    left, right = np.concatenate(blocks[:half], 0), np.concatenate(blocks[half:], 0)
    sheet = np.concatenate([left, np.full((left.shape[0], 8, 3), 255, np.uint8), right], axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out)


if __name__ == "__main__":
    main()
