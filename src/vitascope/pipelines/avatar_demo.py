"""The talking sample of `vitascope demo`: a drawn cartoon face and a synthetic voice through the bundled
avatar demo model (assets/avatar_demo), written as an mp4 with its audio, next to the input photo and wav."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SECONDS = 3.0


def demo_inputs(out: Path, seed: int, size: int = 128) -> tuple[Path, Path]:
    """(photo png, voice wav) in `out`: an evaluator-style face (filled oval, dark eyes and mouth) and
    speech-like sound of the talking-head world, both drawn from `seed`."""
    from PIL import Image

    from vitascope.media_audio import write_audio
    from vitascope.synthetic.faces.audio import speech
    from vitascope.synthetic.faces.cartoon import draw_cartoon, sample_cartoon

    out.mkdir(parents=True, exist_ok=True)
    faces, bg = sample_cartoon(seed, 1, size, size)
    photo = out / "talking_input.png"
    Image.fromarray(draw_cartoon(faces, bg, size, size)).save(photo)
    voice = speech(np.random.default_rng([seed, 12]), int(SECONDS * 16000))
    wav = write_audio(voice.astype(np.float32), out / "talking_input.wav", 16000)
    return photo, Path(wav)


def talking_sample(out: Path, seed: int = 0, progress=None) -> Path:
    """Generate out/talking.mp4 with the bundled avatar demo at its defaults."""
    from vitascope.pipelines.avatar import AvatarOptions
    from vitascope.pipelines.avatar_loader import avatar_demo_folder, load_avatar_pipeline
    from vitascope.pipelines.avatar_output import save_avatar

    photo, wav = demo_inputs(out, seed)
    pipe = load_avatar_pipeline(avatar_demo_folder())
    opts = AvatarOptions(image=str(photo), audio=str(wav), seed=seed, **pipe.defaults)
    result = pipe.generate(opts, progress=progress)
    return save_avatar(pipe, result, out / "talking.mp4")
