"""Audio in: PyAV decoding of common formats, and Whisper windows per video frame against the official code."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vitascope.errors import InputFileError, ModelFolderError
from vitascope.media_audio import read_audio, write_audio
from vitascope.models.audio.whisper import (
    CHUNK_SAMPLES,
    audio_windows,
    encoder_states,
    frame_windows,
    input_features,
    load_whisper,
    video_frame_count,
)

GOLDEN = Path(__file__).parents[2] / "golden" / "avatar"


@pytest.fixture(scope="module")
def whisper():
    return load_whisper(GOLDEN / "whisper")


@pytest.fixture(scope="module")
def golden():
    return load_file(str(GOLDEN / "audio_windows.safetensors"))


def _voiced(seconds, sr=16000, f0=130.0):
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 + 25 * np.sin(2 * np.pi * 0.5 * t)) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 10)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2.7 * t)) ** 2
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def test_windows_match_official(whisper, golden):
    model, fe = whisper
    samples = golden["pcm"].numpy().astype(np.float32) / 32768.0
    feats = input_features(samples, fe)
    assert feats.shape == (80, 3000)
    # the log-mel comes from numpy's float32 FFT, whose rounding moves by a few 1e-5 between numpy releases
    # (numpy 2.4 differs from the golden file's by up to 3.1e-5 in 0.1% of the values)
    torch.testing.assert_close(feats[:, :400], golden["input_features_head"], atol=1e-4, rtol=0)
    got = audio_windows(samples, model, fe, fps=25, release_fp16=False)
    assert got.shape == golden["windows_fps25"].shape == (1, 65, 10, 5, 16)
    torch.testing.assert_close(got, golden["windows_fps25"], atol=1e-4, rtol=0)
    half = audio_windows(samples, model, fe, fps=12.5, release_fp16=False)  # the release counts 25-fps frames
    assert half.shape[1] == 32
    torch.testing.assert_close(half, golden["windows_fps12_5"][:, :32], atol=1e-4, rtol=0)
    # the release's real path rounds the features and the windows to fp16 (about 1e-3 away from fp32)
    release = golden["windows_fps25_release"].float()
    assert (release - golden["windows_fps25"]).abs().max() > 5e-4
    # atol: a feature a few 1e-5 off (numpy's FFT, above) can flip an fp16 rounding (seen: 1.5e-5)
    torch.testing.assert_close(audio_windows(samples, model, fe), release, atol=5e-5, rtol=0)


def test_no_30_second_cap(whisper):
    """65 s of audio: three chunks, every frame windowed; each chunk encoded as if it were alone."""
    model, fe = whisper
    samples = _voiced(65.0)
    got = audio_windows(samples, model, fe, release_fp16=False)
    assert got.shape[:3] == (1, video_frame_count(len(samples)), 10) == (1, 1625, 10)
    first = audio_windows(samples[:CHUNK_SAMPLES], model, fe, release_fp16=False)
    torch.testing.assert_close(got[:, :748], first[:, :748])  # frames 748, 749 reach into chunk 2
    second = encoder_states(model, input_features(samples[CHUNK_SAMPLES : 2 * CHUNK_SAMPLES], fe))
    # video frame 752 starts at padded index 1504, i.e. frame 0 of the second chunk.
    torch.testing.assert_close(got[0, 752, :], second[0, 0:10])
    assert got[0, -1].abs().sum() > 0 and frame_windows(second, 3).shape == (1, 3, 10, 5, 16)


@pytest.mark.parametrize("ext", [".wav", ".flac", ".mp3", ".m4a"])
def test_decode_formats(tmp_path, ext):
    x = _voiced(1.5, sr=44100)
    path = write_audio(x, tmp_path / f"voice{ext}", sample_rate=44100)
    y = read_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 24000) <= 1100  # AAC/MP3 add encoder priming samples
    ref = read_audio(write_audio(x, tmp_path / "ref.wav", 44100))
    n = min(len(ref), len(y))
    lag = int(np.argmax(np.correlate(y[:4000], ref[:2000], mode="valid"))) if ext in (".m4a", ".mp3") else 0
    c = np.corrcoef(y[lag : lag + n - 2000], ref[: n - 2000])[0, 1]
    assert c > 0.95, f"{ext}: correlation {c}"


def test_real_speech_espeak(tmp_path, whisper):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "Hello, this is a talking avatar test."], check=True)
    samples = read_audio(wav)  # espeak writes 22.05 kHz: resampled here
    assert 1.0 < len(samples) / 16000 < 6.0
    model, fe = whisper
    win = audio_windows(samples, model, fe)
    assert win.shape[1] == len(samples) // 640 and torch.isfinite(win).all()


def test_bad_audio(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_audio(tmp_path / "missing.wav")
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(InputFileError):
        read_audio(junk)
    silent = write_audio(np.zeros(16000, np.float32), tmp_path / "silent.wav")
    with pytest.raises(InputFileError, match="silent"):
        read_audio(silent)
    assert read_audio(silent, allow_silent=True).shape == (16000,)
    long = write_audio(_voiced(3.0), tmp_path / "long.flac")
    with pytest.raises(InputFileError, match="longer than"):
        read_audio(long, max_seconds=2.0)
    from vitascope.media import write_video

    video = write_video(np.zeros((4, 16, 16, 3), np.uint8), tmp_path / "mute.mp4", fps=4)
    with pytest.raises(InputFileError, match="no audio stream"):
        read_audio(video)


def test_not_a_whisper_folder(tmp_path):
    with pytest.raises(ModelFolderError, match="Whisper"):
        load_whisper(tmp_path)
