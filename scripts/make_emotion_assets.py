"""Write the bundled emotion reference images (`vitascope generate --emotion NAME`).

    python scripts/make_emotion_assets.py            # -> src/vitascope/assets/emotions/<name>.png

One PNG per expression of the talking-head world (neutral, happy, sad, angry, surprised), rendered by
`vitascope.synthetic.faces.emotions.render_emotion`: deterministic, so rerunning rewrites the same bytes'
pixels (tests/synthetic/faces/test_emotions.py checks the files against the renderer).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from vitascope.synthetic.faces.emotions import render_emotion
from vitascope.synthetic.faces.world import EXPRESSIONS

OUT = Path(__file__).resolve().parents[1] / "src" / "vitascope" / "assets" / "emotions"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in EXPRESSIONS:
        path = args.out / f"{name}.png"
        Image.fromarray(render_emotion(name)).save(path, optimize=True)
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
