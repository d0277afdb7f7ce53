"""The pictures of docs/talking_world.md: sample frames with each track's loudness and the analyzer's mouth
reading underneath, and one face in every expression. Needs matplotlib.

    python -m vitascope.synthetic.faces.figure docs/img
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

import numpy as np

from vitascope.synthetic.faces.analyze import analyze_talk
from vitascope.synthetic.faces.render import make_clip
from vitascope.synthetic.faces.world import EXPRESSIONS, sample_talk_scene

log = logging.getLogger(__name__)
SCENES = (  # (seed, overrides): one speaker, a speaker beside a silent face, three faces with a singer
    (21, {"n_faces": 1, "audio": ("speech",)}),
    (8, {"audio": ("speech", "silent"), "width": 224}),
    (5, {"audio": ("singing", "speech", "speech"), "width": 288}),
)
SHOWN = 6  # frames shown per clip


def samples_figure(path: Path, frames: int = 75) -> None:
    """Frames of three clips, each above a plot of its tracks' loudness (solid) and the mouth height the
    analyzer reads from the pixels (dashed, rescaled to the same range)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        2 * len(SCENES),
        1,
        figsize=(10, 3.2 * len(SCENES)),
        gridspec_kw={"height_ratios": [2.2, 1] * len(SCENES)},
    )
    for k, (seed, overrides) in enumerate(SCENES):
        kw = {"frames": frames, "height": 128, "width": 128, **overrides}
        clip = make_clip(sample_talk_scene(seed, **kw))
        faces = analyze_talk(clip.frames, clip.tracks, fps=clip.scene.fps).faces
        picks = np.linspace(0, frames - 1, SHOWN).round().astype(int)
        strip = np.concatenate(
            [np.pad(clip.frames[i], ((0, 0), (0, 4), (0, 0)), constant_values=255) for i in picks], axis=1
        )
        top, bottom = axes[2 * k], axes[2 * k + 1]
        top.imshow(strip)
        top.set_axis_off()
        t = np.arange(frames) / clip.scene.fps
        for i, (truth, face) in enumerate(zip(clip.truth["faces"], faces, strict=True)):
            colour = f"C{i}"
            label = f"face {i + 1}: {truth['audio']}, {truth['expression']}"
            bottom.plot(t, truth["loudness"], color=colour, lw=1.2, label=label)
            mouth = (face["mouth_height"] - 0.035) / 0.22  # over the world's closed..open range
            bottom.plot(t, mouth, color=colour, lw=1.0, ls="--")
            if "sync" in face:
                log.info(
                    "scene %d face %d: offset %d, confidence %.2f",
                    k,
                    i,
                    face["sync"]["offset"],
                    face["sync"]["confidence"],
                )
        for i in picks:
            bottom.axvline(i / clip.scene.fps, color="0.8", lw=0.6, zorder=0)
        bottom.set_xlim(0, t[-1])
        bottom.set_ylim(-0.05, 1.1)
        bottom.set_ylabel("loudness")
        bottom.legend(loc="upper right", fontsize=7, ncol=3)
    axes[-1].set_xlabel(
        "seconds (solid: track loudness per frame; dashed: mouth height read by analyze_talk)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def expressions_figure(path: Path) -> None:
    """One identity in the five expressions (mouth closed), side by side."""
    from PIL import Image

    base = sample_talk_scene(3, frames=1, height=112, width=96, n_faces=1, audio=("silent",), head_h=0.75)
    face = base.faces[0]
    tiles = [
        make_clip(dataclasses.replace(base, faces=(dataclasses.replace(face, expression=e),))).frames[0]
        for e in EXPRESSIONS
    ]
    Image.fromarray(np.concatenate(tiles, axis=1)).resize((5 * 192, 224), Image.NEAREST).save(path)


def main(argv: list[str]) -> None:
    out = Path(argv[0] if argv else "docs/img")
    out.mkdir(parents=True, exist_ok=True)
    samples_figure(out / "talking_world_samples.png")
    expressions_figure(out / "talking_expressions.png")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main(sys.argv[1:])
