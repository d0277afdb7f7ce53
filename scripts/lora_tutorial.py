"""The LoRA tutorial of docs/lora.md, step by step: teach the bundled demo model a colour it never saw.

    python scripts/lora_tutorial.py render  --out T/clips              # purple world clips: clip.mp4 + clip.txt
    vitascope curate T/clips --out T/curated --config T/curate.toml    # (the config `render` writes)
    vitascope train --recipe lora --data T/curated --out T/run         # the LoRA
    python scripts/lora_tutorial.py measure --lora T/run/export/lora.safetensors --out T/eval

`render` draws scenes of the shapes world whose first object has the new colour (world.NEW_COLOURS: the demo
model was trained on the five of world.COLOURS only), on the demo model's size (17 frames, 64x64, 8 fps),
over shapes and motions of a training split; the held-out split (`measure`) asks for the other combinations.
`measure` generates every held-out prompt with and without the LoRA, names the largest object's colour with
the world's analyzer (synthetic/analyze.py, palette widened with the new colours) and writes a JSON table,
a markdown table and a figure of sample frames.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

KNOWN = ("red", "green", "blue", "yellow", "white")
SHAPES = ("circle", "square", "triangle")
MOTIONS = ("moving left", "moving right", "moving up", "moving down", "staying still")
# The training clips show every shape but only these (shape, motion) pairs; the held-out prompts ask for
# the rest (new shape x motion combinations in the new colour) and for other backgrounds.
TRAIN_PAIRS = {
    ("circle", "moving right"), ("circle", "moving up"), ("circle", "staying still"),
    ("square", "moving left"), ("square", "moving down"), ("square", "staying still"),
    ("triangle", "moving right"), ("triangle", "moving up"),
}  # fmt: skip
CURATE_TOML = """# curate the tutorial's 64x64 world clips (the defaults are for real footage)
analysis_size = 64
[split]
min_clip_s = 1.0
max_clip_s = 10.0
sharp_search_s = 0.0      # keep every frame: the clips are 17 frames
[quality]                 # flat synthetic pictures: black/white backgrounds, still objects are fine
min_sharpness = 0.0
max_dark_luma = 0.0
min_bright_luma = 255.0
min_contrast = 0.0
max_frozen_fraction = 1.0
border_luma = 0.0         # a black background is not a letterbox
[motion]
min_speed = 0.0
[embed]
dedup_threshold = 1.0     # world clips look alike by design
[text]
enabled = false
[people]
enabled = false
[dataset]
duration_buckets_s = [2.125]   # 17 frames at 8 fps
[[dataset.stages]]
name = "64p"
min_short_side = 64
min_duration_s = 1.0
[encode]
vae_folder = "{demo}/vae"
llm_folder = "{demo}/text_encoder"
clip_folder = "{demo}/text_encoder_2"
short_side = 64
fps = 8
stage = "64p"
"""


def render_clips(out: Path, colour: str, n: int, seed: int, model: Path | None = None) -> None:
    from vitascope.media import write_video
    from vitascope.pipelines.loader import demo_model_path
    from vitascope.synthetic.captions import canonical_caption
    from vitascope.synthetic.render import render
    from vitascope.synthetic.world import sample_scene

    out.mkdir(parents=True, exist_ok=True)
    pairs = sorted(TRAIN_PAIRS)
    rng = np.random.default_rng(seed)
    for i in range(n):
        shape, motion = pairs[i % len(pairs)]
        bg = "black" if rng.random() < 0.6 else str(rng.choice(["white", "gray", "blue"]))
        spec = sample_scene(
            int(rng.integers(2**31)), colour=colour, shape=shape, motion=motion, background=bg
        )
        write_video(render(spec), out / f"clip_{i:03d}.mp4", fps=8)
        (out / f"clip_{i:03d}.txt").write_text(canonical_caption(spec) + "\n")
    toml = out.parent / "curate.toml"
    toml.write_text(CURATE_TOML.format(demo=(model or demo_model_path()).resolve()))
    print(f"{n} clips in {out}; curation config: {toml}")


def held_out_prompts(colour: str, n: int, seed: int) -> list[dict]:
    """`n` prompts in the new colour with (shape, motion) pairs not in TRAIN_PAIRS, on black and on gray."""
    rng = np.random.default_rng([seed, 7])
    pairs = [(s, m) for s in SHAPES for m in MOTIONS if (s, m) not in TRAIN_PAIRS]
    cases = []
    for i in range(n):
        s, m = pairs[i % len(pairs)]
        bg = "black" if i % 3 else "gray"
        cases.append(
            {"colour": colour, "shape": s, "motion": m, "background": bg, "seed": int(rng.integers(1e6))}
        )
    return cases


def known_prompts(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng([seed, 8])
    combos = [(c, s, m) for c in KNOWN for s in SHAPES for m in MOTIONS]
    order = rng.permutation(len(combos))[:n]
    return [
        {"colour": combos[k][0], "shape": combos[k][1], "motion": combos[k][2], "background": "black",
         "seed": int(rng.integers(1e6))}
        for k in order
    ]  # fmt: skip


def _prompt(case: dict) -> str:
    return f"a {case['colour']} {case['shape']} {case['motion']} on a {case['background']} background"


def _run(pipe, cases: list[dict], palette: dict | None) -> tuple[list[dict], list[np.ndarray]]:
    from vitascope.pipelines.options import GenerationOptions
    from vitascope.synthetic.analyze import analyze

    rows, clips = [], []
    for case in cases:
        res = pipe.generate(GenerationOptions(prompt=_prompt(case), seed=case["seed"]))
        frames = (
            (np.clip(res.video, 0, 1) * 255).round().astype(np.uint8)
            if res.video.dtype != np.uint8
            else res.video
        )
        a = analyze(frames, background=case["background"], colours=palette)
        got = a.objects[0]["colour"] if a.objects else None
        rows.append({**case, "prompt": _prompt(case), "got": got, "ok": got == case["colour"]})
        clips.append(frames)
        print(f"  {_prompt(case)!r} seed {case['seed']}: {got}", flush=True)
    return rows, clips


def measure(
    lora: Path, out: Path, colour: str, n_new: int, n_known: int, seed: int, model: Path | None = None
) -> dict:
    from vitascope.pipelines.loader import load_pipeline
    from vitascope.synthetic.world import ALL_COLOURS

    out.mkdir(parents=True, exist_ok=True)
    new, known = held_out_prompts(colour, n_new, seed), known_prompts(n_known, seed)
    table, shown = {}, {}
    for name, loras in (("base", None), ("lora", [(str(lora), 1.0)])):
        t0 = time.perf_counter()
        pipe = load_pipeline(model, loras=loras)
        print(f"{name}:", flush=True)
        # the new colour is named from the widened palette; the known ones as the project's evaluator does
        rows_new, clips_new = _run(pipe, new, ALL_COLOURS)
        rows_known, clips_known = _run(pipe, known, None)
        table[name] = {
            "new_colour": float(np.mean([r["ok"] for r in rows_new])),
            "known_colours": float(np.mean([r["ok"] for r in rows_known])),
            "n_new": len(rows_new), "n_known": len(rows_known), "seconds": time.perf_counter() - t0,
            "rows": rows_new + rows_known,
        }  # fmt: skip
        shown[name] = clips_new[:4] + clips_known[:2]
    (out / "measure.json").write_text(json.dumps(table, indent=1))
    _figure(shown, [_prompt(c) for c in new[:4] + known[:2]], out / "lora_tutorial.png")
    lines = ["| model | new colour right | known colours right |", "|---|---|---|"]
    for name, row in table.items():
        lines.append(
            f"| {name} | {row['new_colour']:.0%} ({row['n_new']} prompts) | "
            f"{row['known_colours']:.0%} ({row['n_known']} prompts) |"
        )
    (out / "measure.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return table


# Hues outside the world's eight named colours, for the VAE check only (the analyzer does not name them).
EXTRA_HUES = {
    "cyan": (40, 210, 210),
    "magenta": (220, 50, 200),
    "lime": (160, 230, 40),
    "teal": (20, 140, 130),
    "brown": (140, 80, 30),
}


def vae_round_trip(n: int = 4, vae_folder: Path | None = None) -> list[dict]:
    """Each colour through a VAE (default: the demo model's; encode, decode): the mean colour of the object's
    pixels before and after, their CIE76 delta E, and what the analyzer (widened palette) names the decoded
    clip. A colour the VAE cannot reconstruct cannot come out of any DiT LoRA either."""
    import torch

    from vitascope.models.vae import load_vae
    from vitascope.pipelines.loader import demo_model_path
    from vitascope.synthetic.analyze import analyze
    from vitascope.synthetic.faces import delta_e
    from vitascope.synthetic.render import render
    from vitascope.synthetic.world import ALL_COLOURS, COLOURS, sample_scene

    vae = load_vae(vae_folder or demo_model_path() / "vae").eval()
    rows = []
    for colour, rgb in {**ALL_COLOURS, **EXTRA_HUES}.items():
        before, after, names = [], [], []
        for seed in range(n):
            named = colour if colour in ALL_COLOURS else "white"
            spec = sample_scene(seed, colour=named, background="black", n_objects=1)
            clip = render(spec)  # [F, H, W, 3] uint8
            if colour not in ALL_COLOURS:  # on black a render is colour * coverage: repaint the white one
                cover = clip[..., :1].astype(np.float32) / COLOURS["white"][0]
                clip = np.clip(np.rint(cover * np.array(rgb, np.float32)), 0, 255).astype(np.uint8)
            x = torch.from_numpy(clip).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
            with torch.no_grad():
                y = vae.decode(vae.encode(x))[0]  # [3, F, H, W]
            out = ((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 3, 0).numpy()
            mask = clip.astype(int).max(-1) > 60  # the object's pixels on black
            before.append(clip[mask].mean(0))
            after.append(out[mask].mean(0))
            if colour in ALL_COLOURS:
                objs = analyze(out, background="black", colours=ALL_COLOURS).objects
                names.append(objs[0]["colour"] if objs else None)
        b, a = np.mean(before, 0), np.mean(after, 0)
        rows.append({
            "colour": colour, "rgb": b.round().astype(int).tolist(), "after_vae": a.round().astype(int).tolist(),
            "delta_e": round(float(delta_e(b, a)), 1), "named": names,
        })  # fmt: skip
        r = rows[-1]
        print(
            f"| {colour} | {r['rgb']} | {r['after_vae']} | {r['delta_e']} | {', '.join(map(str, names)) or '-'} |",
            flush=True,
        )
    return rows


def _figure(shown: dict[str, list[np.ndarray]], prompts: list[str], path: Path) -> None:
    """Rows base / LoRA, one column per prompt: frames 0, 8 and 16 side by side, 2x upscaled."""
    import cv2

    rows = []
    for name in ("base", "lora"):
        tiles = []
        for clip in shown[name]:
            strip = np.concatenate([clip[i] for i in (0, len(clip) // 2, len(clip) - 1)], axis=1)
            tiles.append(np.pad(strip, ((2, 2), (2, 2), (0, 0)), constant_values=90))
        rows.append(np.concatenate(tiles, axis=1))
    img = np.concatenate(rows, axis=0)
    img = cv2.resize(img, (img.shape[1] * 2, img.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(path), img[..., ::-1])
    path.with_suffix(".txt").write_text("rows: base, LoRA; columns: " + " | ".join(prompts) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="step", required=True)
    r = sub.add_parser("render", help="world clips of the new colour as clip.mp4 + clip.txt")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--colour", default="purple")
    r.add_argument("--n", type=int, default=48)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--model", type=Path, default=None, help="base model folder (default: the bundled demo)")
    m = sub.add_parser("measure", help="held-out prompts with and without the LoRA")
    m.add_argument("--lora", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--colour", default="purple")
    m.add_argument("--n-new", type=int, default=20)
    m.add_argument("--n-known", type=int, default=20)
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--model", type=Path, default=None, help="base model folder (default: the bundled demo)")
    v = sub.add_parser("vae", help="every colour through the demo VAE (or --vae FOLDER) and back")
    v.add_argument("--vae", type=Path, default=None)
    a = p.parse_args()
    if a.step == "vae":
        vae_round_trip(vae_folder=a.vae)
    elif a.step == "render":
        render_clips(a.out, a.colour, a.n, a.seed, a.model)
    else:
        measure(a.lora, a.out, a.colour, a.n_new, a.n_known, a.seed, a.model)


if __name__ == "__main__":
    main()
