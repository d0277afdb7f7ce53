"""Contact sheet of the bundled demo model's T2V and I2V output for docs/eval.md.

    PYTHONPATH=src python3 scripts/render_demo_samples.py --out docs/img/demo_samples.png

One row per sample (frames 0, 4, 8, 12, 16 at 2x), the prompt (and for I2V the input image) beside it.
Deterministic: fixed prompts and seeds through the user-facing pipeline at the model's defaults.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vitascope.pipelines.loader import load_pipeline
from vitascope.pipelines.options import GenerationOptions
from vitascope.train.evaluate import input_image

ROWS = [
    ("t2v", "a red circle moving right on a black background", 1),
    ("t2v", "a yellow square moving down on a black background", 2),
    ("i2v", "a green triangle moving left on a black background", 3),
    ("i2v", "a white circle moving up on a black background", 4),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/img/demo_samples.png"))
    args = ap.parse_args()
    pipe = load_pipeline(None)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode, prompt, seed in ROWS:
            words = prompt.split()
            kw, first = {}, np.zeros((64, 64, 3), np.uint8)
            if mode == "i2v":
                first = input_image({"seed": seed, "colour": words[1], "shape": words[2]}, 64, 64)
                path = Path(tmp) / f"{seed}.png"
                Image.fromarray(first).save(path)
                kw = {"task": "i2v", "image": str(path)}
            frames = pipe.generate(GenerationOptions(prompt, seed=seed, **kw)).frames
            strip = np.concatenate([first, np.full((64, 8, 3), 40, np.uint8), *frames[::4]], axis=1)
            img = Image.fromarray(strip).resize((strip.shape[1] * 2, 128), Image.NEAREST)
            canvas = Image.new("RGB", (img.width, 150), (20, 20, 20))
            canvas.paste(img, (0, 0))
            label = f"{mode.upper()} seed {seed}: {prompt}" + (" (input image left)" if mode == "i2v" else "")
            ImageDraw.Draw(canvas).text((4, 133), label, fill=(230, 230, 230))
            rows.append(np.asarray(canvas))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out)


if __name__ == "__main__":
    main()
