"""Audio of the talking-head world: 16 kHz mono float32 tracks and their loudness per video frame.

- speech-like: syllables of voiced harmonics shaped by vowel formants, a short noise burst for the
  consonant, varying pitch (a falling phrase contour) and loudness, pauses between phrases;
- singing: held vowels on notes of a scale with vibrato, short breaths between them;
- espeak: real synthetic speech from the `espeak-ng` program when it is installed (`have_espeak()`);
- silent: zeros.
`loudness` is the one envelope everything agrees on: the world opens mouths with it and the analyzer
correlates mouths against it.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import wave

import numpy as np

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.faces.world import SAMPLE_RATE

# (F1, F2, F3) in Hz of five vowels, roughly those of an adult voice
VOWELS = {
    "a": (750, 1200, 2500),
    "e": (500, 1800, 2500),
    "i": (300, 2200, 2900),
    "o": (500, 900, 2400),
    "u": (320, 800, 2300),
}
_BANDWIDTH = (90.0, 110.0, 170.0)
GATE = 0.005  # RMS under which a frame is silent
FULL = 0.25  # RMS of a fully open mouth
_WORDS = (
    "hello there how are you today the weather is lovely and the cat sat on the mat we walked along "
    "the river to see the boats come in my friend said that the music was wonderful tonight"
).split()


def _harmonic_gains(f0: float, vowel: str, sr: int) -> np.ndarray:
    """Amplitude of each harmonic k*f0 (k = 1..) below 4 kHz: three formant resonances on a falling tilt."""
    k = np.arange(1, int(min(4000.0, sr / 2 - 200) // f0) + 1)
    f = k * f0
    gain = np.zeros_like(f, dtype=np.float64)
    for centre, bw in zip(VOWELS[vowel], _BANDWIDTH, strict=True):
        gain += 1.0 / (1.0 + ((f - centre) / bw) ** 2)
    return gain / np.sqrt(k)


def _voice(f0: np.ndarray, vowel: str, sr: int) -> np.ndarray:
    """Voiced sound with pitch contour f0 [N] (Hz): a sum of harmonics of the running phase."""
    phase = 2.0 * np.pi * np.cumsum(f0) / sr
    gains = _harmonic_gains(float(np.mean(f0)), vowel, sr)
    out = np.zeros_like(f0)
    for k, g in enumerate(gains, start=1):
        out += g * np.sin(k * phase)
    return out / max(float(np.abs(out).max()), 1e-9)


def _envelope(n: int, attack: int, release: int) -> np.ndarray:
    env = np.ones(n)
    a, r = min(attack, n // 2), min(release, n // 2)
    if a:
        env[:a] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, a))
    if r:
        env[n - r :] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, r))
    return env


def speech(rng: np.random.Generator, samples: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Speech-like sound: phrases of 2-6 syllables with a falling pitch, pauses between them. [samples]"""
    out = np.zeros(samples, dtype=np.float64)
    base = rng.uniform(100.0, 230.0)  # the speaker's pitch
    pos = int(rng.uniform(0.0, 0.25) * sr)
    while pos < samples:
        n_syl = int(rng.integers(2, 7))
        for i in range(n_syl):
            dur = int(rng.uniform(0.12, 0.28) * sr)
            burst = int(rng.uniform(0.01, 0.04) * sr)
            if pos + burst + dur > samples:
                break
            out[pos : pos + burst] += rng.normal(0, 0.05, burst) * _envelope(burst, burst // 3, burst // 3)
            pos += burst
            contour = base * (1.15 - 0.3 * i / n_syl) * rng.uniform(0.92, 1.08)
            f0 = contour * (1.0 + 0.06 * np.linspace(-1, 1, dur) * rng.uniform(-1, 1))
            vowel = "aeiou"[int(rng.integers(5))]
            level = rng.uniform(0.35, 1.0)
            out[pos : pos + dur] += (
                level * _voice(f0, vowel, sr) * _envelope(dur, int(0.02 * sr), int(0.05 * sr))
            )
            pos += dur + int(rng.uniform(0.0, 0.05) * sr)
        pos += int(rng.uniform(0.15, 0.6) * sr)
    return (0.6 * out).astype(np.float32)


def singing(rng: np.random.Generator, samples: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Held pitched vowels on a major scale with vibrato, breaths and rests between notes. [samples]"""
    out = np.zeros(samples, dtype=np.float64)
    tonic = int(rng.integers(52, 64))  # MIDI note of the key
    scale = (0, 2, 4, 5, 7, 9, 11, 12)
    pos = int(rng.uniform(0.0, 0.3) * sr)
    while pos < samples:
        dur = min(int(rng.uniform(0.4, 1.0) * sr), samples - pos)
        if dur < int(0.1 * sr):
            break
        midi = tonic + scale[int(rng.integers(len(scale)))]
        t = np.arange(dur) / sr
        depth = 0.5 * np.clip((t - 0.15) / 0.2, 0.0, 1.0)  # vibrato (semitones) sets in after the onset
        f0 = 440.0 * 2.0 ** ((midi - 69 + depth * np.sin(2 * np.pi * 5.5 * t)) / 12.0)
        level = rng.uniform(0.5, 1.0)
        vowel = "aeo"[int(rng.integers(3))]
        out[pos : pos + dur] = level * _voice(f0, vowel, sr) * _envelope(dur, int(0.06 * sr), int(0.08 * sr))
        pos += dur + int((rng.uniform(0.05, 0.15) if rng.random() < 0.7 else rng.uniform(0.3, 0.6)) * sr)
    return (0.6 * out).astype(np.float32)


@functools.lru_cache(maxsize=1)
def have_espeak() -> bool:
    """Whether the espeak-ng program is installed."""
    return shutil.which("espeak-ng") is not None


def _read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as w:
        if w.getsampwidth() != 2:
            raise InvalidOptionError("espeak-ng produced a wav that is not 16-bit PCM")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
        return pcm.reshape(-1, w.getnchannels()).mean(axis=1), w.getframerate()


def espeak(rng: np.random.Generator, samples: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Real synthetic speech: random sentences of a small word list spoken by espeak-ng, with a random
    speed and pitch, resampled to `sr` and cut or padded to `samples`."""
    from scipy.signal import resample_poly

    if not have_espeak():
        raise InvalidOptionError("audio 'espeak' needs the espeak-ng program (apt-get install espeak-ng)")
    pieces, total = [np.zeros(int(rng.uniform(0.05, 0.3) * sr), dtype=np.float32)], 0
    while total < samples:
        words = " ".join(_WORDS[int(i)] for i in rng.integers(len(_WORDS), size=int(rng.integers(3, 8))))
        cmd = [
            "espeak-ng",
            "--stdout",
            "-v",
            "en",
            "-s",
            str(int(rng.integers(140, 190))),
            "-p",
            str(int(rng.integers(30, 70))),
            words,
        ]
        pcm, rate = _read_wav(subprocess.run(cmd, capture_output=True, check=True, timeout=30).stdout)
        g = np.gcd(int(rate), sr)
        pcm = resample_poly(pcm, sr // g, int(rate) // g).astype(np.float32)
        pieces += [pcm, np.zeros(int(rng.uniform(0.2, 0.5) * sr), dtype=np.float32)]
        total = sum(len(p) for p in pieces)
    out = np.concatenate(pieces)[:samples]
    return (0.6 * out / max(float(np.abs(out).max()), 1e-6)).astype(np.float32)


def make_track(kind: str, seed: int, samples: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """One face's audio: float32 [samples] in [-1, 1], a pure function of (kind, seed, samples)."""
    rng = np.random.default_rng(seed)
    if kind == "silent":
        return np.zeros(samples, dtype=np.float32)
    makers = {"speech": speech, "singing": singing, "espeak": espeak}
    if kind not in makers:
        raise InvalidOptionError(
            f"unknown audio kind {kind!r}; choose one of: speech, singing, espeak, silent"
        )
    return makers[kind](rng, samples, sr)


def loudness(audio, fps: float, frames: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Loudness of each video frame in [0, 1]: the RMS over a Hann window two frames long centred on the
    frame, gated at GATE and full at FULL, with a 0.7 power (mouths open quickly at first). [frames]"""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise InvalidOptionError(f"audio must be mono [samples]; got shape {audio.shape}")
    hop = sr / fps
    half = max(1, int(round(hop)))
    win = np.hanning(2 * half + 1).astype(np.float32)
    win /= win.sum()
    padded = np.pad(audio, (half, half + int(hop) + 2))
    centres = (np.arange(frames) * hop + hop / 2.0).round().astype(int) + half
    idx = centres[:, None] + np.arange(-half, half + 1)[None, :]
    idx = np.clip(idx, 0, len(padded) - 1)
    rms = np.sqrt((padded[idx] ** 2 * win).sum(axis=1))
    return (np.clip((rms - GATE) / (FULL - GATE), 0.0, 1.0) ** 0.7).astype(np.float32)
