"""Sample frames of the bundled avatar demo with the audio envelope under them, for docs/avatar.md.

    PYTHONPATH=src python3 scripts/render_avatar_figure.py --out docs/img/avatar_demo_samples.png

Two held-out cases (an evaluator-style drawn face and a talking-world face of an unseen seed), 3 s of
speech-like audio each: a strip of frames, then the audio loudness per frame (grey) and the mouth height the
world's analyzer reads from the generated frames (red), both scaled to their own range, with the lip-sync
offset, confidence and correlation. Deterministic for a given model and seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def _case_rows(pipe, size: int, seed: int):
    from vitascope.pipelines.avatar import AvatarOptions
    from vitascope.synthetic.faces import analyze_talk, envelopes
    from vitascope.synthetic.faces.avatar_eval import avatar_cases

    rows = []
    cases = avatar_cases(3, seed, 3.0, size)
    for case in (cases[0], cases[2]):  # a drawn face and a world face of an unseen seed
        audio = case.tracks[0] if len(case.tracks) == 1 else list(case.tracks)
        opts = AvatarOptions(image=case.photo, audio=audio, seed=case.seed, **pipe.defaults)
        res = pipe.generate(opts)
        frames = np.concatenate(list(pipe.decode_chunks(res.latents, res.frames)))
        a = analyze_talk(frames, case.tracks, fps=25.0)
        k = case.speaking.index(True)
        env = envelopes(case.tracks, 25.0, len(frames))[k]
        ok = len(a.faces) == len(case.tracks)
        mouth = a.faces[k]["mouth_height"] if ok else np.zeros(len(frames))
        sync = a.faces[k]["sync"] if ok else {"offset": 0, "confidence": 0.0, "corr": 0.0}
        rows.append((case.name, frames, env, mouth, sync))
    return rows


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vitascope.pipelines.avatar_loader import avatar_demo_folder, load_avatar_pipeline

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("docs/img/avatar_demo_samples.png"))
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=4321)
    a = ap.parse_args()
    pipe = load_avatar_pipeline(a.model or avatar_demo_folder())
    rows = _case_rows(pipe, int(pipe.defaults.get("image_size", 64)), a.seed)
    fig, axes = plt.subplots(2 * len(rows), 1, figsize=(10, 2.6 * len(rows)), dpi=110)
    for k, (name, frames, env, mouth, sync) in enumerate(rows):
        picks = np.linspace(0, len(frames) - 1, 10).round().astype(int)
        axes[2 * k].imshow(np.concatenate([frames[i] for i in picks], axis=1))
        axes[2 * k].set_axis_off()
        axes[2 * k].set_title(
            f"{name}: frames {', '.join(map(str, picks))}; offset {sync['offset']}, "
            f"confidence {sync['confidence']:.2f}, corr {sync['corr']:.2f}",
            fontsize=8,
        )
        t = np.arange(len(env))
        norm = lambda x: (x - np.min(x)) / (np.ptp(x) + 1e-9)  # noqa: E731
        ax = axes[2 * k + 1]
        ax.fill_between(t, norm(env), color="0.75", label="audio loudness")
        ax.plot(t, norm(mouth), color="tab:red", lw=1.2, label="mouth height (analyzer)")
        ax.vlines(picks, 0, 1, colors="k", lw=0.4, alpha=0.4)
        ax.set_xlim(0, len(env) - 1)
        ax.set_yticks([])
        ax.set_xlabel("frame (25 fps)", fontsize=7)
        ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
