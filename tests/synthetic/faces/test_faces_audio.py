"""Audio of the talking-head world: speech-like syllables with pauses and moving pitch, singing on held
pitched vowels, espeak-ng speech when installed, and the per-frame loudness that drives the mouths."""

from __future__ import annotations

import numpy as np
import pytest

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.faces import SAMPLE_RATE, have_espeak, loudness, make_track


def _pitch(x: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """f0 (Hz) of each voiced 40 ms frame by autocorrelation (NaN when unvoiced or quiet)."""
    n = int(0.04 * sr)
    out = []
    for i in range(0, len(x) - n, n):
        w = x[i : i + n] - x[i : i + n].mean()
        if np.sqrt((w * w).mean()) < 0.03:
            out.append(np.nan)
            continue
        ac = np.correlate(w, w, "full")[n - 1 :]
        lo, hi = sr // 400, sr // 70
        lag = lo + int(np.argmax(ac[lo:hi]))
        out.append(sr / lag if ac[lag] > 0.4 * ac[0] else np.nan)
    return np.array(out)


def test_speech_has_syllables_pauses_and_moving_pitch():
    x = make_track("speech", 11, 4 * SAMPLE_RATE)
    assert x.dtype == np.float32 and x.shape == (4 * SAMPLE_RATE,) and np.abs(x).max() <= 1.0
    loud = loudness(x, 25.0, 100)
    assert (loud == 0).mean() > 0.1 and (loud > 0.5).mean() > 0.2  # pauses and voiced syllables
    onsets = np.flatnonzero((loud[1:] > 0.3) & (loud[:-1] <= 0.3))
    assert len(onsets) >= 3  # several separate sound bursts in 4 s
    f0 = _pitch(x)
    voiced = f0[np.isfinite(f0)]
    assert len(voiced) > 20 and 70 < np.median(voiced) < 400
    assert np.ptp(np.percentile(voiced, [10, 90])) > 10  # the pitch moves
    spectrum = np.abs(np.fft.rfft(x[:SAMPLE_RATE]))
    freqs = np.fft.rfftfreq(SAMPLE_RATE, 1.0 / SAMPLE_RATE)
    assert spectrum[(freqs > 200) & (freqs < 3000)].sum() > 10 * spectrum[freqs > 5000].sum()  # voice band


def test_singing_holds_pitched_notes():
    x = make_track("singing", 4, 4 * SAMPLE_RATE)
    f0 = _pitch(x)
    voiced = np.isfinite(f0)
    assert voiced.mean() > 0.5  # mostly sound
    semis = 12 * np.log2(f0[voiced] / 440.0)
    steady = np.abs(np.diff(semis)) < 0.7  # neighbouring 40 ms frames on the same note (vibrato aside)
    assert steady.mean() > 0.7
    speech = _pitch(make_track("speech", 4, 4 * SAMPLE_RATE))
    assert voiced.mean() > np.isfinite(speech).mean()  # held vowels: more sound than speech


def test_silent_track_and_loudness_scale():
    assert not make_track("silent", 0, 1000).any()
    assert (loudness(np.zeros(16000), 25.0, 25) == 0).all()
    t = np.arange(16000) / SAMPLE_RATE
    full = loudness(0.5 * np.sin(2 * np.pi * 220 * t), 25.0, 25)
    soft = loudness(0.05 * np.sin(2 * np.pi * 220 * t), 25.0, 25)
    assert np.allclose(full[1:-1], 1.0) and 0.1 < soft[12] < 0.6
    with pytest.raises(InvalidOptionError, match="mono"):
        loudness(np.zeros((2, 100)), 25.0, 4)
    with pytest.raises(InvalidOptionError, match="audio kind"):
        make_track("whistle", 0, 100)


def test_tracks_are_pure_functions_of_their_seed():
    assert np.array_equal(make_track("speech", 9, 8000), make_track("speech", 9, 8000))
    assert not np.array_equal(make_track("speech", 9, 8000), make_track("speech", 10, 8000))


@pytest.mark.skipif(not have_espeak(), reason="espeak-ng is not installed")
def test_espeak_speech():
    x = make_track("espeak", 2, 3 * SAMPLE_RATE)
    assert x.dtype == np.float32 and x.shape == (3 * SAMPLE_RATE,)
    assert np.array_equal(x, make_track("espeak", 2, 3 * SAMPLE_RATE))
    loud = loudness(x, 25.0, 75)
    assert (loud > 0.3).mean() > 0.2 and (loud < 0.05).mean() > 0.05  # words and gaps
    assert np.isfinite(_pitch(x)).sum() > 10  # voiced
