"""An AAC audio track muxed into an mp4 as its video is written (used by `vitascope.media.VideoWriter`).

The audio comes from a file (anything FFmpeg decodes: wav, mp3, m4a, the audio of a video) or from float PCM
in memory (`AudioTrack`). It is read block by block and encoded up to the time of the last video frame
written, so the two streams stay interleaved and a long file is never held whole. The video decides the
length: the audio is cut at the last frame, or padded with silence when it is shorter.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

from vitascope.errors import InputFileError, InvalidOptionError

log = logging.getLogger(__name__)

BLOCK = 8192  # samples per block handed to the encoder (PyAV re-chunks to AAC's 1024-sample frames)


@dataclass(frozen=True)
class AudioTrack:
    """Float PCM in [-1, 1]: samples [N] (mono) or [N, C] with C = 1 or 2, at `sample_rate` Hz."""

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self):
        s = np.asarray(self.samples)
        if s.ndim == 1:
            s = s[:, None]
        if s.ndim != 2 or s.shape[1] not in (1, 2) or not np.issubdtype(s.dtype, np.floating):
            raise InvalidOptionError(
                f"audio samples must be float [N] or [N, C] with 1 or 2 channels, got {s.dtype} "
                f"{tuple(np.shape(self.samples))}"
            )
        if not (8000 <= int(self.sample_rate) <= 96000):
            raise InvalidOptionError(f"audio sample_rate must be 8000..96000 Hz, got {self.sample_rate}")
        object.__setattr__(self, "samples", s)


AudioInput = Union[str, Path, AudioTrack]


class _ArraySource:
    def __init__(self, track: AudioTrack):
        self.rate, self.channels = int(track.sample_rate), track.samples.shape[1]
        self._samples = track.samples  # [N, C]
        self._pos = 0

    def read(self, n: int) -> np.ndarray | None:
        """Up to n samples as float32 [C, n'], or None at the end."""
        if self._pos >= len(self._samples):
            return None
        block = self._samples[self._pos : self._pos + n]
        self._pos += len(block)
        return np.ascontiguousarray(block.T, dtype=np.float32)

    def close(self) -> None:
        pass


class _FileSource:
    """Decodes the first audio stream of a file lazily, resampled to planar float (mono or stereo)."""

    def __init__(self, path: Path):
        import av

        if not path.is_file():
            raise InputFileError(f"audio file not found: {path}")
        try:
            self._container = av.open(str(path))
            stream = self._container.streams.audio[0]
        except (av.error.FFmpegError, IndexError) as e:
            raise InputFileError(
                f"cannot read audio from {path}: {e}. Use a wav, mp3, m4a or flac file"
            ) from e
        self.rate = int(stream.rate)
        self.channels = 1 if stream.channels == 1 else 2  # more channels are mixed down to stereo
        layout = "mono" if self.channels == 1 else "stereo"
        self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=self.rate)
        self._frames = self._container.decode(stream)
        self._left = np.zeros((self.channels, 0), np.float32)
        self._path = path

    def read(self, n: int) -> np.ndarray | None:
        while self._left.shape[1] == 0:
            if self._resampler is None:
                return None
            frame = next(self._frames, None)
            pcm = [f.to_ndarray() for f in self._resampler.resample(frame)]  # None flushes at the end
            if frame is None:
                self._resampler = None
            self._left = np.concatenate(pcm, axis=1) if pcm else self._left
        block, self._left = self._left[:, :n], self._left[:, n:]
        return np.ascontiguousarray(block, dtype=np.float32)

    def close(self) -> None:
        self._container.close()


class AudioMuxer:
    """Adds an AAC stream to an open output container and feeds it up to a given time."""

    def __init__(self, container: Any, audio: AudioInput):
        self._source = audio_source(audio)
        self.rate, self.channels = self._source.rate, self._source.channels
        layout = "mono" if self.channels == 1 else "stereo"
        self.stream = container.add_stream("aac", rate=self.rate, layout=layout)
        self.sent = 0  # samples handed to the encoder so far

    def encode_until(self, seconds: float) -> list:
        """Encode source audio up to `seconds` (or its end); returns the packets ready to mux."""
        target = round(seconds * self.rate)
        packets = []
        while self.sent < target:
            block = self._source.read(min(BLOCK, target - self.sent))
            if block is None:
                break
            packets += self._encode(block)
        return packets

    def finish(self, seconds: float) -> list:
        """Encode up to exactly `seconds` (silence past the source's end) and flush the encoder."""
        packets = self.encode_until(seconds)
        short = round(seconds * self.rate) - self.sent
        if short > 0:
            log.info("audio is %.2f s shorter than the video; padded with silence", short / self.rate)
            packets += self._encode(np.zeros((self.channels, short), np.float32))
        packets += list(self.stream.encode(None))
        self.close()
        return packets

    def close(self) -> None:
        self._source.close()

    def _encode(self, block: np.ndarray) -> list:
        import av

        layout = "mono" if self.channels == 1 else "stereo"
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)  # [C, n]
        frame.sample_rate, frame.pts = self.rate, self.sent
        self.sent += block.shape[1]
        return list(self.stream.encode(frame))


def audio_source(audio: AudioInput) -> _ArraySource | _FileSource:
    if isinstance(audio, AudioTrack):
        return _ArraySource(audio)
    if isinstance(audio, (str, Path)):
        return _FileSource(Path(audio))
    raise InvalidOptionError(
        f"audio must be a file path or an AudioTrack(samples, sample_rate), got {type(audio).__name__}"
    )
