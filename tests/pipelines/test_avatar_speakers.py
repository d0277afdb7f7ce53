"""Two voices on a two-face photo and an emotion reference, through the Avatar pipeline on a tiny random
folder: the DiT sees one audio stream and one disjoint mask per face (left to right), the emotion latents reach
the cond branches only, the mp4 carries the mix; and the clear errors (counts, a model without emotion)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vitascope.errors import InvalidOptionError
from vitascope.media_audio import read_audio, write_audio
from vitascope.pipelines.avatar import AvatarOptions, AvatarPipeline
from vitascope.pipelines.avatar_inputs import mix_tracks
from vitascope.pipelines.avatar_loader import load_avatar_pipeline
from vitascope.pipelines.avatar_output import save_avatar
from vitascope.pipelines.tiny_avatar import write_tiny_avatar
from vitascope.synthetic.faces.audio import make_track
from vitascope.synthetic.faces.cartoon import draw_cartoon, sample_cartoon

SR = 16000


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory):
    from PIL import Image

    faces, bg = sample_cartoon(2, 2, 64, 128)
    path = tmp_path_factory.mktemp("photo") / "two.png"
    Image.fromarray(draw_cartoon(faces, bg, 64, 128)).save(path)
    return path, faces


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    d = tmp_path_factory.mktemp("voices")
    a = write_audio(make_track("speech", 1, int(1.2 * SR)), d / "a.wav")
    b = write_audio(make_track("singing", 2, int(0.8 * SR)), d / "b.wav")  # shorter: padded with silence
    return a, b


class _Spy:
    """A DiT plugin recording what each call's hooks saw."""

    def __init__(self):
        self.calls = []

    def embed_tokens(self, ctx):
        self.calls.append(
            {
                "audio": tuple(ctx.inputs.extra["audio"].shape),
                "face": ctx.extras["face"].clone(),
                "emotion": "emotion" in ctx.extras,
                "zero_audio": not ctx.inputs.extra["audio"].any(),
            }
        )


@pytest.mark.slow  # ~25 s on 2 free cores: the VAE encodes the 129-frame reference
def test_two_voices_and_an_emotion(tmp_path, two_faces, voices):
    photo, faces = two_faces
    pipe = load_avatar_pipeline(write_tiny_avatar(tmp_path / "m", emotion=True))
    spy = _Spy()
    pipe.dit.add_plugin(spy)
    opts = AvatarOptions(
        image=str(photo), audio=[str(v) for v in voices], image_size=64, steps=1, emotion="happy", seed=1
    )
    result = pipe.generate(opts)
    assert {c["audio"][:3] for c in spy.calls} == {(1, 2, 129)}  # [B, N, F, 10, K, C]: one stream per voice
    face = spy.calls[0]["face"]  # [1, L, 2] at the token grid
    assert face.shape[-1] == 2 and face.sum(-1).max() <= 1.0 + 1e-6 and (face[..., 0] > 0).any()
    # step 0 runs cond (voices + emotion reference) and negative (zero audio, no emotion reference)
    assert {(c["emotion"], c["zero_audio"]) for c in spy.calls} == {(True, False), (False, True)}
    speakers = result.metadata["speakers"]
    assert [s["audio"] for s in speakers] == [str(v) for v in voices]
    centres = [s["face_box_resized"][0] + s["face_box_resized"][2] / 2 for s in speakers]
    assert np.allclose(centres, [f.cx for f in faces], atol=4)  # left face = first voice
    assert speakers[1]["audio_seconds"] <= 0.8 and result.metadata["emotion"]["reference"] == "bundled happy"
    tracks = np.stack([np.pad(read_audio(v), (0, int(1.2 * SR) - read_audio(v).size)) for v in voices])
    np.testing.assert_allclose(result.samples, mix_tracks(tracks), atol=1e-6)
    out = save_avatar(pipe, result, tmp_path / "talk.mp4")
    decoded = read_audio(out)
    n = min(decoded.size, result.samples.size)
    assert np.corrcoef(decoded[:n], result.samples[:n])[0, 1] > 0.9  # the mp4's audio is the mix
    meta = json.loads(out.with_name(out.name + ".json").read_text())
    assert meta["options"]["audio"] == [str(v) for v in voices] and meta["options"]["emotion"] == "happy"


def test_counts_and_emotion_errors(tmp_path, two_faces, voices):
    photo, _ = two_faces
    three = [str(voices[0])] * 3
    with pytest.raises(InvalidOptionError, match="3 audio track.*2 face"):
        AvatarPipeline.preflight(AvatarOptions(image=str(photo), audio=three, image_size=64))
    with pytest.raises(InvalidOptionError, match="one box per voice"):
        AvatarOptions(image=str(photo), audio=three, face_box=((1, 1, 5, 5), (9, 1, 5, 5)))
    with pytest.raises(InvalidOptionError, match="not both"):
        AvatarOptions(image=str(photo), audio=three[:1], emotion="sad", emotion_image=str(photo))
    plain = load_avatar_pipeline(write_tiny_avatar(tmp_path / "plain"))
    opts = AvatarOptions(image=str(photo), audio=three[:2], image_size=64, steps=1, emotion="sad")
    with pytest.raises(InvalidOptionError, match="no emotion module"):
        plain.generate(opts)
    base = ["--model", str(tmp_path / "plain"), "--image", str(photo), "--image-size", "64"]
    # one CLI run (each costs a Python start): the count mismatch is one error line, before any weights load
    for args, message in ((["--audio", three[0]] * 3, "error: 3 audio track(s) but 2 face(s) found"),):
        r = _run("generate", *base, *args, "-o", str(tmp_path / "x.mp4"))
        errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        assert r.returncode != 0 and len(errors) == 1 and message in errors[0], r.stderr
    assert not (tmp_path / "x.mp4").exists()
    assert not plain.dit.has_emotion


def _run(*args):
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "vitascope.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
