"""`vitascope generate --audio` end to end on a tiny random Avatar folder in the release's layout, and the
clear errors for bad input. The mp4's audio stream is decoded back and compared with the input."""

import json
import os
import shutil
import subprocess
import sys

import av
import numpy as np
import pytest
import torch
from PIL import Image

from vitascope.errors import WeightLoadError
from vitascope.media_audio import read_audio, write_audio
from vitascope.pipelines.avatar_loader import DIT_FILE, load_avatar_pipeline
from vitascope.pipelines.tiny_avatar import write_tiny_avatar

SR, FPS = 16000, 25


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_tiny_avatar(tmp_path_factory.mktemp("avatar"))


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "face.png"
    Image.fromarray((np.random.default_rng(0).random((80, 64, 3)) * 255).astype(np.uint8)).save(path)
    return path


def _voiced(seconds, f0=130.0):
    """A voiced, syllable-modulated signal (harmonics of a wobbling f0): speech-like, no TTS needed."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 + 25 * np.sin(2 * np.pi * 0.5 * t)) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 10)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2.7 * t)) ** 2
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def _speech(tmp_path, min_seconds):
    """espeak-ng speech repeated to at least `min_seconds`, or None without espeak-ng."""
    if shutil.which("espeak-ng") is None:
        return None
    raw = tmp_path / "espeak.wav"
    text = "Hello, this is the talking avatar. It speaks every word of this sentence clearly."
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, capture_output=True)
    one = read_audio(raw)
    return np.tile(one, int(np.ceil(min_seconds * SR / one.size)))[: int(min_seconds * SR) + 800]


def _run(*args):
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "vitascope.cli", "generate", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def _generate(folder, photo, audio_path, out, *extra):
    return _run(
        "--model", str(folder), "--image", str(photo), "--audio", str(audio_path), "-o", str(out),
        "--image-size", "64", "--face-box", "10,10,40,50", "--seed", "3", *extra,
    )  # fmt: skip


def _check_output(out, samples):
    assert out.is_file() and out.with_name(out.name + ".json").is_file()
    meta = json.loads(out.with_name(out.name + ".json").read_text())
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert a.codec_context.name == "aac" and v.codec_context.name == "h264"
        n_frames = sum(1 for _ in c.decode(v))
    decoded = read_audio(out)  # the audio stream decodes, the AAC priming trimmed
    seconds = samples.size / SR
    assert abs(n_frames / FPS - seconds) <= 1 / FPS  # video length = audio length within one frame
    assert abs(decoded.size - samples.size) <= SR // FPS
    n = min(decoded.size, samples.size)
    assert np.corrcoef(decoded[:n], samples[:n])[0, 1] > 0.9  # the same voice, in sync (no offset)
    assert meta["frames"] == n_frames and meta["fps"] == FPS and meta["options"]["steps"] in (1, 2)
    return meta


@pytest.mark.slow
def test_short_audio_synthetic_voice(folder, photo, tmp_path):
    samples = _voiced(1.5)
    wav = write_audio(samples, tmp_path / "voice.wav")
    out = tmp_path / "talk.mp4"
    r = _generate(folder, photo, wav, out, "--steps", "2", "--prompt", "a man talks")
    assert r.returncode == 0, r.stderr
    meta = _check_output(out, read_audio(wav))
    assert meta["timeline"]["latent_frames"] == 33 and meta["windows_per_step"] == [1]
    assert meta["prompt_used"].startswith("Authentic, Realistic") and meta["prompt_used"].endswith(
        "a man talks"
    )
    assert meta["negative_prompt_used"].endswith(", blurring, Lens changes")
    assert meta["options"]["cfg_scale"] == 7.5 and meta["options"]["flow_shift"] == 5.0


@pytest.mark.slow
def test_three_windows_speech(folder, photo, tmp_path):
    """10.3 s: 257 padded audio frames, 97 latent frames, three 33-frame windows per step (espeak-ng speech
    when installed, the synthetic voice otherwise), as an m4a file."""
    samples = _speech(tmp_path, 10.3)
    samples = _voiced(10.3) if samples is None else samples
    m4a = write_audio(samples, tmp_path / "voice.m4a")
    out = tmp_path / "long.mp4"
    r = _generate(folder, photo, m4a, out, "--steps", "1", "--no-wrap")
    assert r.returncode == 0, r.stderr
    meta = _check_output(out, read_audio(m4a))
    assert meta["timeline"]["latent_frames"] == 97 and meta["windows_per_step"] == [3]
    assert meta["options"]["wrap"] is False


def _bad(tmp_path, folder, photo, kind):
    wav = write_audio(_voiced(2.0), tmp_path / "voice.wav")
    args = ["--face-box", "10,10,40,50"]
    if kind == "no_face":  # noise has no face: the detector finds none
        args = []
    elif kind == "silent":
        wav = write_audio(np.zeros(SR, np.float32), tmp_path / "silent.wav")
    elif kind == "corrupt":
        wav = tmp_path / "corrupt.wav"
        wav.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + os.urandom(2000))
    elif kind == "too_long":
        args += ["--max-audio-seconds", "1.5"]
    elif kind == "not_an_image":
        photo = tmp_path / "face.png"
        photo.write_text("this is not a picture")
    return wav, photo, args


@pytest.mark.parametrize(
    "kind,message",
    [
        ("no_face", "no face found"),
        ("silent", "is silent"),
        ("corrupt", "cannot decode audio"),
        ("too_long", "longer than the limit of 1.5 s"),
        ("not_an_image", "cannot read image"),
    ],
)
def test_bad_input_is_one_clear_error(folder, photo, tmp_path, kind, message):
    wav, image, args = _bad(tmp_path, folder, photo, kind)
    outdir = tmp_path / "out"
    outdir.mkdir()
    r = _run("--model", str(folder), "--image", str(image), "--audio", str(wav), "-o", str(outdir / "x.mp4"),
             "--image-size", "64", "--steps", "1", *args)  # fmt: skip
    assert r.returncode != 0
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], r.stderr
    assert "Traceback" not in r.stderr
    assert list(outdir.iterdir()) == []  # nothing written, not even a temporary file


def test_loader_is_strict_and_names_keys(folder, tmp_path):
    shutil.copytree(folder, tmp_path / "m")
    path = tmp_path / "m" / "ckpts" / DIT_FILE
    state = torch.load(path, weights_only=True)["module"]
    state.pop("audio_adapter_blocks.0.to_out.weight")
    state["extra.weight"] = torch.zeros(1)
    torch.save({"ema": state}, path)
    with pytest.raises(WeightLoadError, match=r"audio_adapter_blocks\.0\.to_out\.weight.*extra\.weight"):
        load_avatar_pipeline(tmp_path / "m", weights_key="ema")
    t2v = {
        k: v
        for k, v in state.items()
        if not k.startswith(("ref_in", "audio", "before_proj", "motion", "fps"))
    }
    t2v.pop("extra.weight")
    torch.save({"module": t2v}, path)
    with pytest.raises(WeightLoadError, match="not a HunyuanVideo-Avatar DiT"):
        load_avatar_pipeline(tmp_path / "m" / "ckpts")


def test_decode_chunks_equal_the_tiled_decode(folder):
    from vitascope.models.vae import TilingConfig, load_vae
    from vitascope.pipelines.avatar import AvatarPipeline

    vae = load_vae(folder / "ckpts" / DIT_FILE.parts[0] / "vae")
    pipe = AvatarPipeline(None, vae, None, None, None, None)
    pipe.vae_decode = (
        "windows"  # the release's way (what "auto" picks for videos too large to decode at once)
    )
    z = torch.randn(1, 16, 8, 8, 8, generator=torch.Generator().manual_seed(0))  # two 16-frame tiles and more
    chunks = list(pipe.decode_chunks(z, 27))
    assert len(chunks) > 1 and sum(len(c) for c in chunks) == 27
    vae.enable_tiling(TilingConfig(spatial=False, temporal=True))
    with torch.no_grad():
        whole = vae.decode(z / vae.config.scaling_factor)
    whole = ((whole.float() / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 3, 0) * 255).round().to(torch.uint8)
    diff = np.abs(np.concatenate(chunks).astype(int) - whole.numpy()[:27].astype(int))
    assert diff.max() <= 1  # float summation order only


def test_decode_chunks_decode_at_once_when_it_fits(folder):
    from vitascope.models.vae import load_vae
    from vitascope.pipelines.avatar import AvatarPipeline

    vae = load_vae(folder / "ckpts" / DIT_FILE.parts[0] / "vae")
    pipe = AvatarPipeline(None, vae, None, None, None, None)  # vae_decode "auto": this tiny decode fits
    z = torch.randn(1, 16, 8, 8, 8, generator=torch.Generator().manual_seed(0))
    chunks = list(pipe.decode_chunks(z, 27))
    with torch.no_grad():
        whole = vae.decode(z / vae.config.scaling_factor, tiling=False)
    whole = ((whole.float() / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 3, 0) * 255).round().to(torch.uint8)
    assert len(chunks) == 1 and np.array_equal(chunks[0], whole.numpy()[:27])
