"""The avatar demo's random Whisper carries loudness: a linear read-out of its per-frame windows, fitted on
even frames of world speech, predicts the loudness envelope of the odd frames."""

from __future__ import annotations

import numpy as np


def test_random_whisper_windows_carry_loudness(tmp_path):
    from vitascope.models.audio.whisper import audio_windows, load_whisper
    from vitascope.synthetic.faces.audio import loudness, speech
    from vitascope.train.avatar_encoders import write_encoders
    from vitascope.train.avatar_recipes import demo_avatar_stage1

    r = demo_avatar_stage1()
    write_encoders(tmp_path, r.avatar_options, r.seed + 100)  # the demo's own seed and widths
    model, fe = load_whisper(tmp_path / "whisper-tiny")
    x = speech(np.random.default_rng(100), 16000 * 4).astype(np.float32)
    feats = audio_windows(x, model, fe)[0].reshape(100, -1).numpy()  # [F, 10 * 3 * 32]
    env = loudness(x, 25.0, 100)
    X = np.c_[feats, np.ones(len(feats))]
    even = np.arange(len(X)) % 2 == 0
    coef = np.linalg.solve(X[even].T @ X[even] + np.eye(X.shape[1]), X[even].T @ env[even])
    corr = np.corrcoef(X[~even] @ coef, env[~even])[0, 1]
    assert corr > 0.6, corr  # measured 0.80 for this clip
