"""Default talking-face generation with the bundled avatar demo on 2 CPU cores, start-up included.

Runs `vitascope generate --image face.png --audio voice.wav` (no --model: the bundled avatar demo, at its own
defaults) as a fresh process with OMP_NUM_THREADS=2 (pinned to 2 cores where the OS allows), on 5 s of
speech-like audio and an evaluator-style drawn face, timing from process start to exit: interpreter start,
imports, model loading, Whisper, text encoding, denoising, VAE decode and the mp4 write with its audio.
Target (issue 12): <= 60 s. Note that the time depends on what else the machine runs.

    python benchmarks/avatar_demo_latency.py [--repeats 1] [--seconds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

TARGET_S = 60.0
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
SRC = str(HERE.parent / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from demo_latency import time_once  # noqa: E402  (same process set-up as the T2V demo benchmark)


def _inputs(folder: Path, seconds: float) -> tuple[Path, Path]:
    import numpy as np
    from PIL import Image

    from vitascope.media_audio import write_audio
    from vitascope.synthetic.faces.audio import speech
    from vitascope.synthetic.faces.cartoon import draw_cartoon, sample_cartoon

    faces, bg = sample_cartoon(7, 1, 256, 256)
    photo = folder / "face.png"
    Image.fromarray(draw_cartoon(faces, bg, 256, 256)).save(photo)
    voice = speech(np.random.default_rng(7), int(seconds * 16000)).astype(np.float32)
    return photo, write_audio(voice, folder / "voice.wav", 16000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photo, voice = _inputs(tmp, a.seconds)
        args = ["--image", str(photo), "--audio", str(voice), "--seed", "1", "-o", str(tmp / "talk.mp4")]
        times = [time_once(args) for _ in range(a.repeats)]
        med = statistics.median(times)
        verdict = "ok" if med <= TARGET_S else "OVER TARGET"
        print(
            f"avatar demo, {a.seconds:g} s of audio: median {med:.1f} s over {a.repeats} runs "
            f"(min {min(times):.1f}, max {max(times):.1f}); target <= {TARGET_S:.0f} s: {verdict}"
        )


if __name__ == "__main__":
    main()
