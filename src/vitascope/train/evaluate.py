"""Evaluation on the synthetic world: generate from canonical prompts with fresh noise seeds, measure with
the analyzer (colour, shape, motion), I2V first-frame PSNR against the input image, and background flicker.

What the prompts are: `eval_cases` draws from the full colour x shape x motion vocabulary, which is also the
training vocabulary (the demo model saw every combination in training). What is new in an eval case is the
noise seed (and, for I2V, the input image). So the scores say how well the model follows the prompts it was
trained on, not how it generalises to unseen combinations.

Sampling goes through the one sampler (`models.dit.sampling.sample_dit`), as the pipelines do.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

log = logging.getLogger(__name__)


@torch.no_grad()
def latents_to_frames(vae, latents: torch.Tensor) -> np.ndarray:
    """Scaled latents [1, C, T, H, W] -> uint8 frames [F, H, W, 3]."""
    dev = next(vae.parameters()).device
    video = vae.decode(latents.to(dev) / vae.config.scaling_factor)[0]  # [3, F, H, W]
    return ((video.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 3, 0).cpu().numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 images of the same shape."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


MIN_BACKGROUND = 0.05  # below this share of pixels the flicker estimate is not made


def temporal_stability(frames: np.ndarray) -> float:
    """Mean absolute change of the background between consecutive frames, in grey levels (0: no flicker).

    Background = pixels that stay dark (max channel <= 40) in every frame: meant for clips on the black
    background. NaN ("not measured") when it cannot see: fewer than 2 frames, or under MIN_BACKGROUND of the
    picture stays dark (a bright background, or flicker so strong that every pixel lights up once)."""
    if len(frames) < 2:
        return float("nan")
    x = frames.astype(np.float32)
    bg = ~(x.max(axis=-1) > 40).any(axis=0)  # never bright: away from the object's path
    if bg.mean() < MIN_BACKGROUND:
        return float("nan")
    diffs = np.abs(np.diff(x, axis=0))[:, bg]
    return float(diffs.mean())


@dataclass
class CaseResult:
    mode: str  # "t2v" | "i2v"
    prompt: str
    seed: int
    want: dict
    got: dict
    psnr: float | None
    stability: float
    dit_calls: dict = dataclasses.field(default_factory=lambda: {"full": 0, "cached": 0})

    def correct(self, field: str) -> bool:
        return self.got.get(field) == self.want[field]


def score_video(frames: np.ndarray, want: dict) -> dict:
    """What the analyzer sees in a generated clip: the largest object's colour, shape and motion."""
    from vitascope.synthetic.analyze import analyze

    a = analyze(frames, background=want.get("background"))
    if not a.objects:
        return {"colour": None, "shape": None, "motion": None}
    o = a.objects[0]
    return {"colour": o["colour"], "shape": o["shape"], "motion": o["motion"]}


def summarize(results: list[CaseResult]) -> dict:
    """Accuracy per field and mode, mean PSNR (I2V) and mean stability."""
    out: dict = {}
    for mode in ("t2v", "i2v"):
        rs = [r for r in results if r.mode == mode]
        if not rs:
            continue
        row = {f: float(np.mean([r.correct(f) for r in rs])) for f in ("colour", "shape", "motion")}
        row["n"] = len(rs)
        seen = [r.stability for r in rs if np.isfinite(r.stability)]
        row["stability"] = float(np.mean(seen)) if seen else float("nan")  # over the cases it could measure
        row["stability_n"] = len(seen)
        if mode == "i2v":
            ps = [r.psnr for r in rs if r.psnr is not None]
            row["psnr_mean"] = float(np.mean(ps))
            row["psnr_min"] = float(np.min(ps))
        out[mode] = row
    return out


def eval_cases(n: int, seed: int) -> list[dict]:
    """`n` canonical single-object prompts on black (the evaluator's form) with generation seeds; the
    colour, shape and motion cycle so every value appears about equally often. The prompts are training
    vocabulary (see the module docstring); the seeds are new noise seeds, drawn from `seed`. The list for
    n is the first n cases of the list for any larger n."""
    from vitascope.synthetic.world import COLOURS, MOTIONS, SHAPES

    rng = np.random.default_rng([seed, 5])
    combos = [(c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS]
    order = rng.permutation(len(combos))
    cases = []
    for i in range(n):
        c, s, m = combos[int(order[i % len(combos)])]
        cases.append(
            {
                "colour": c,
                "shape": s,
                "motion": m,
                "background": "black",
                "prompt": f"a {c} {s} {m} on a black background",
                "seed": int(rng.integers(10**6, 2 * 10**6)),
            }
        )
    return cases


def input_image(case: dict, height: int, width: int, centred: bool = False) -> np.ndarray:
    """The I2V input: one shape of the case's colour and shape, still, on black (uint8 [H, W, 3]); where
    the world puts a still object (anywhere in frame), or with `centred` in the middle at a mid size."""
    from vitascope.synthetic.render import render
    from vitascope.synthetic.world import SIZE_RANGE, ObjectSpec, SceneSpec, sample_scene

    if centred:
        obj = ObjectSpec(case["shape"], case["colour"], "staying still", sum(SIZE_RANGE) / 2, (0.5, 0.5))
        return render(SceneSpec((obj,), frames=1, height=height, width=width))[0]

    spec = sample_scene(
        case["seed"],
        1,
        height,
        width,
        n_objects=1,
        background="black",
        camera="static",
        shape=case["shape"],
        colour=case["colour"],
    )
    return render(spec)[0]


def run_eval(
    pipe,
    n: int,
    seed: int,
    workdir,
    modes=("t2v", "i2v"),
    steps: int | None = None,
    centred: bool = False,
    cache: str | None = None,
) -> list[CaseResult]:
    """Generate every case with `pipe` (T2V from the prompt; I2V from a rendered image + the prompt) and
    measure it. Sizes and frames are the model's defaults; `centred`: see input_image; `cache`: a step cache
    (`--cache POLICY[:THRESHOLD]`) for every clip."""
    from pathlib import Path

    from PIL import Image

    from vitascope.pipelines.options import GenerationOptions

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    h, w = pipe.defaults.height, pipe.defaults.width
    from vitascope.train.logging import progress

    results = []
    cases = eval_cases(n, seed)
    bar = progress(total=len(cases) * len(modes), desc="eval", unit="clip")
    for i, case in enumerate(cases):
        want = {k: case[k] for k in ("colour", "shape", "motion", "background")}
        for mode in modes:
            image, kw = None, {}
            if mode == "i2v":
                image = input_image(case, h, w, centred)
                path = workdir / f"input_{i:03d}.png"
                Image.fromarray(image).save(path)
                kw = {"task": "i2v", "image": str(path), "height": h, "width": w}
            opts = GenerationOptions(case["prompt"], seed=case["seed"], steps=steps, cache=cache, **kw)
            out = pipe.generate(opts)
            frames = out.frames
            got = score_video(frames, want)
            results.append(
                CaseResult(
                    mode,
                    case["prompt"],
                    case["seed"],
                    want,
                    got,
                    psnr(frames[0], image) if image is not None else None,
                    temporal_stability(frames),
                    dict(out.metadata.get("speed", {}).get("dit_calls", {"full": 0, "cached": 0})),
                )
            )
            log.info("%s %s seed %d -> %s", mode, case["prompt"], case["seed"], got)
            bar.update(1)
    bar.close()
    return results


def markdown_table(summary: dict) -> str:
    """The eval table as Markdown (what docs/eval.md shows), with what the prompts are said under it."""
    lines = [
        "| mode | cases | colour | shape | motion | first-frame PSNR (dB, mean / min) | background flicker (grey levels) |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, row in summary.items():
        ps = f"{row['psnr_mean']:.1f} / {row['psnr_min']:.1f}" if "psnr_mean" in row else "-"
        n_seen = row.get("stability_n", row["n"])
        if not n_seen:
            flicker = "not measured"
        else:
            flicker = f"{row['stability']:.2f}" + (
                f" ({n_seen} of {row['n']} cases)" if n_seen < row["n"] else ""
            )
        lines.append(
            f"| {mode} | {row['n']} | {row['colour']:.0%} | {row['shape']:.0%} | {row['motion']:.0%} | {ps} | "
            f"{flicker} |"
        )
    lines.append("")
    lines.append(
        "Prompts: training vocabulary (colour x shape x motion on black) with new noise seeds; not held out."
    )
    return "\n".join(lines) + "\n"
