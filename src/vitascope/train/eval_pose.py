"""`vitascope eval --task pose`: pose-driven clips of figures the model never trained on, scored by the figure
analyzer against the issue's targets.

Each case takes a held-out figure clip (`synthetic.figures.clips`, odd seeds: never trained on): its first
frame is the input image. The motion is, in turn, a template by name (`--motion`) or a pose video of another
held-out figure, rendered at 128x128 and written as an mp4 (`--pose-video`: the pipeline reads it with the
analyzer and retargets it). The pipeline generates exactly as `vitascope generate` does; then per generated
frame (frame 0, the input itself, left out):

- PCK@0.1: the analyzer's keypoints within 0.1 x the figure's standing height of the drive's keypoints (the
  retargeted skeleton the model was given); a frame where no figure is found scores 0;
- colours kept: each of the four parts' colours within 60 RGB units of the input figure's (a frame without a
  figure keeps none).

The same scores of the ground-truth render of each drive (the figure drawn at the target keypoints) are the
ceiling the analyzer allows at this size.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TARGETS = {"pck": 0.80, "colours": 0.95}
COLOUR_TOLERANCE = 60.0  # RGB distance of a kept part colour
ROLES = ("head", "torso", "arms", "legs")


def score_frames(frames: np.ndarray, target: np.ndarray, height: float, colours: dict) -> dict:
    """Per-frame PCK@0.1 and share of part colours kept of uint8 frames [F, H, W, 3] against target
    keypoints [F, 17, 2] and the input figure's colours {role: rgb}."""
    from vitascope.errors import InvalidOptionError
    from vitascope.synthetic.figures import fit_figure, pck

    pcks, kept = [], []
    for frame, kp in zip(frames, target, strict=True):
        try:
            fit = fit_figure(frame)
        except InvalidOptionError:  # no figure (or not four parts) in the frame
            pcks.append(0.0)
            kept.append(0.0)
            continue
        pcks.append(pck(fit.keypoints, kp, height))
        got = fit.figure.colours()
        kept.append(
            np.mean([np.linalg.norm(np.subtract(got[r], colours[r])) <= COLOUR_TOLERANCE for r in ROLES])
        )
    return {"pck": float(np.mean(pcks)), "colours": float(np.mean(kept)), "pck_frames": pcks}


def still_pck(image: np.ndarray, target: np.ndarray, height: float) -> float:
    """PCK@0.1 of a video that never moves (the input image in every frame): the baseline a model that only
    copies its input would score, since part of every motion stays put."""
    from vitascope.synthetic.figures import fit_figure, pck

    kp = fit_figure(image).keypoints
    return float(np.mean([pck(kp, t, height) for t in target]))


def _case(i: int, seed: int, size, frames: int, workdir: Path) -> dict:
    """Input image, motion source and names of held-out case i (even i: a template; odd: a pose video)."""
    from PIL import Image

    from vitascope.media import write_video
    from vitascope.synthetic.figures import TEMPLATES, render_figure
    from vitascope.synthetic.figures.clips import EVAL, figure_clip, split_seed

    ref = figure_clip(split_seed(seed + 2 * i, EVAL), frames, size, motion="poses")
    image = workdir / f"case{i:03d}_image.png"
    Image.fromarray(ref.frames[0]).save(image)
    names = list(TEMPLATES)
    if i % 2 == 0:
        name = names[(i // 2) % len(names)]
        return {"image": image, "extra": {"motion": name}, "kind": "template", "motion": name, "ref": ref}
    driver = figure_clip(split_seed(seed + 2 * i + 1, EVAL), frames, (128, 128))
    video = render_figure(driver.figure, driver.keypoints, driver.height, (128, 128), driver.background)
    path = write_video(video, workdir / f"case{i:03d}_pose.mp4", fps=8)
    return {
        "image": image,
        "extra": {"pose_video": str(path)},
        "kind": "pose video",
        "motion": driver.motion,
        "ref": ref,
    }


def run_pose_eval(pipe, n: int, seed: int, workdir: str | Path, steps: int | None = None):
    """(rows, an example (frames, skeleton)) for n held-out cases on `pipe` (a pose model)."""
    from vitascope.pipelines.options import GenerationOptions
    from vitascope.synthetic.figures import draw_skeleton, render_figure

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    d = pipe.defaults
    rows, example = [], None
    for i in range(n):
        case = _case(i, seed, (d.height, d.width), d.frames, workdir)
        opts = GenerationOptions(
            prompt="", task="i2v", image=str(case["image"]), seed=seed + i, steps=steps, extra=case["extra"]
        )
        result = pipe.generate(opts)
        video = np.clip(np.rint(result.video * 255), 0, 255).astype(np.uint8)  # [F, H, W, 3]
        drive = result.metadata["pose"]
        target, height = np.array(drive["keypoints"]), float(drive["figure_height"])
        ref = case["ref"]
        colours = ref.figure.colours()
        got = score_frames(video[1:], target[1:], height, colours)
        truth = render_figure(ref.figure, target, ref.height, (d.height, d.width), ref.background)
        ceiling = score_frames(truth[1:], target[1:], height, colours)
        still = still_pck(ref.frames[0], target[1:], height)
        rows.append(
            {
                "case": i,
                "kind": case["kind"],
                "motion": case["motion"],
                "pck": got["pck"],
                "colours": got["colours"],
                "pck_frames": [round(p, 3) for p in got["pck_frames"]],
                "ceiling_pck": ceiling["pck"],
                "ceiling_colours": ceiling["colours"],
                "still_pck": still,
            }
        )
        log.info(
            "pose case %d (%s %s): PCK %.2f, colours %.2f",
            i,
            case["kind"],
            case["motion"],
            got["pck"],
            got["colours"],
        )
        if example is None:
            example = (video, draw_skeleton(target, (d.height, d.width)), case["motion"])
    return rows, example


def pose_summary(rows: list[dict]) -> dict:
    out = {}
    for kind in ("template", "pose video", "all"):
        sel = [r for r in rows if kind == "all" or r["kind"] == kind]
        if sel:
            out[kind] = {
                k: float(np.mean([r[k] for r in sel]))
                for k in ("pck", "colours", "ceiling_pck", "ceiling_colours", "still_pck")
            }
            out[kind]["cases"] = len(sel)
    return out


def pose_table(rows: list[dict]) -> str:
    s = pose_summary(rows)
    lines = [
        "| drive | cases | PCK@0.1 | target | colours kept | target | still-image PCK | analyzer ceiling (PCK / colours) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, v in s.items():
        lines.append(
            f"| {kind} | {v['cases']} | {v['pck']:.1%} | >= {TARGETS['pck']:.0%} | {v['colours']:.1%} | "
            f">= {TARGETS['colours']:.0%} | {v['still_pck']:.1%} | {v['ceiling_pck']:.1%} / {v['ceiling_colours']:.1%} |"
        )
    return "\n".join(lines) + "\n"


def pose_strip(
    video: np.ndarray, skeleton: np.ndarray, path: str | Path, every: int = 2, scale: int = 3
) -> Path:
    """A PNG: generated frames (top row) above the skeleton frames that drove them (bottom row)."""
    from PIL import Image

    idx = list(range(0, len(video), every))
    top = np.concatenate([video[i] for i in idx], axis=1)
    bottom = np.concatenate([skeleton[i] for i in idx], axis=1)
    grid = np.concatenate([top, bottom], axis=0)
    img = Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
