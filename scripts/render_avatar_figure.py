"""Sample frames of avatar clips with the audio envelope under them, for docs/avatar.md.

    vitascope eval --task avatar --clips 6 --seconds 3 --seed 1234 --out runs/eval     # writes runs/eval/clips/
    PYTHONPATH=src python3 scripts/render_avatar_figure.py --eval runs/eval --seed 1234 \
        --out docs/img/avatar_demo_samples.png

For the first clips of that eval (held-out drawn and world faces): a strip of frames, then the speaking
face's audio loudness per frame (grey) and the mouth height the world's analyzer reads from the generated
frames (red), each scaled to its own range, with the lip-sync offset, confidence and correlation. The cases
are rebuilt from the eval's seed (`avatar_cases`), so the audio is the one the clip was generated from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def _rows(eval_dir: Path, seed: int, seconds: float, size: int, n: int):
    from vitascope.media import read_video
    from vitascope.synthetic.faces import analyze_talk, envelopes
    from vitascope.synthetic.faces.avatar_eval import avatar_cases

    rows = []
    for case in avatar_cases(n, seed, seconds, size):
        path = eval_dir / "clips" / f"{case.name}.mp4"
        if not path.exists():
            continue
        frames, _ = read_video(path)
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

    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", type=Path, required=True, help="the OUT of `vitascope eval --task avatar`")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("docs/img/avatar_demo_samples.png"))
    a = ap.parse_args()
    rows = _rows(a.eval, a.seed, a.seconds, a.size, a.clips)
    fig, axes = plt.subplots(2 * len(rows), 1, figsize=(10, 2.4 * len(rows)), dpi=110, squeeze=False)
    axes = axes[:, 0]
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
    print(f"wrote {a.out} ({len(rows)} clips)")


if __name__ == "__main__":
    main()
