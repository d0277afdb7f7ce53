"""Reading and writing audio files with PyAV: any container FFmpeg decodes (wav, mp3, m4a/aac, flac, ogg...).

`read_audio` returns float32 mono samples at the requested rate (16 kHz for Whisper). Channels are averaged and
the rate is converted by FFmpeg's resampler; the release loads with librosa (soxr), so for input that is not
already 16 kHz the samples differ in the last bits, never in length by more than one sample.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from vitascope.errors import InputFileError

log = logging.getLogger(__name__)

SILENCE_PEAK = 1e-4  # below this peak amplitude (-80 dBFS) a recording counts as silent


def read_audio(
    path: str | Path,
    sample_rate: int = 16000,
    *,
    max_seconds: float | None = None,
    allow_silent: bool = False,
) -> np.ndarray:
    """Decode the first audio stream of `path` to float32 mono samples [N] at `sample_rate`.

    Raises InputFileError for a missing file, a file with no audio stream, a corrupt stream, audio longer than
    `max_seconds` (checked while decoding, so a huge file is not decoded whole), and, unless `allow_silent`,
    silent audio.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"audio file not found: {path}")
    limit = None if max_seconds is None else int(max_seconds * sample_rate)
    chunks, n = [], 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InputFileError(f"{path} has no audio stream. Use a wav, mp3, m4a or flac file.")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    n += chunks[-1].size
                if limit is not None and n > limit:
                    raise InputFileError(
                        f"audio {path} is longer than the limit of {max_seconds:g} s; trim it first"
                    )
            for out in resampler.resample(None):  # flush
                chunks.append(out.to_ndarray().reshape(-1))
    except (av.error.FFmpegError, ValueError) as e:
        raise InputFileError(f"cannot decode audio {path}: {e}. Use a wav, mp3, m4a or flac file.") from e
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if limit is not None and samples.size > limit:
        raise InputFileError(f"audio {path} is longer than the limit of {max_seconds:g} s; trim it first")
    if samples.size == 0:
        raise InputFileError(f"audio {path} has no decodable samples")
    if not allow_silent and float(np.abs(samples).max()) < SILENCE_PEAK:
        raise InputFileError(f"audio {path} is silent: a voice recording is needed to drive the avatar")
    log.debug("read %s: %d samples at %d Hz", path, samples.size, sample_rate)
    return samples


def audio_duration(samples: np.ndarray, sample_rate: int = 16000) -> float:
    return samples.shape[-1] / sample_rate


_CODECS = {
    ".wav": ("pcm_s16le", "s16"),
    ".flac": ("flac", "s16"),
    ".m4a": ("aac", "fltp"),
    ".mp3": ("libmp3lame", "s16p"),
}


def write_audio(samples: np.ndarray, path: str | Path, sample_rate: int = 16000) -> Path:
    """Write float mono samples [N] in [-1, 1] as wav, flac, m4a (AAC) or mp3, atomically."""
    import av

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _CODECS:
        raise InputFileError(f"cannot write audio as {suffix!r}; use one of {sorted(_CODECS)}")
    codec, fmt = _CODECS[suffix]
    x = np.clip(np.asarray(samples, dtype=np.float32).reshape(1, -1), -1.0, 1.0)
    if fmt in ("s16", "s16p"):
        x = np.round(x * 32767).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part{suffix}")
    try:
        with av.open(str(tmp), "w") as out:
            stream = out.add_stream(codec, rate=sample_rate, layout="mono")
            frame = av.AudioFrame.from_ndarray(x, format=fmt, layout="mono")
            frame.sample_rate = sample_rate
            for packet in stream.encode(frame):
                out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
