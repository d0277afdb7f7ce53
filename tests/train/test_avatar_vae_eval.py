"""The VAE round-trip measure of talking faces: its cases are readable, a perfect reconstruction keeps every
figure, a reconstruction that loses the mouth's motion fails, and a real VAE runs through it."""

from pathlib import Path

import numpy as np

from vitascope.train.avatar_vae_eval import (
    roundtrip_cases,
    roundtrip_table,
    score_roundtrip,
    summarize_roundtrip,
    vae_roundtrip,
)

AVATAR_VAE = (
    Path(__file__).resolve().parents[2] / "src/vitascope/assets/avatar_demo/ckpts/hunyuan-video-t2v-720p/vae"
)


def test_cases_are_deterministic_and_their_mouths_follow_the_voice():
    a, b = roundtrip_cases(4, 3, 64, 1.5), roundtrip_cases(4, 3, 64, 1.5)
    assert [c.kind for c in a] == ["world", "drawn", "world", "drawn"]
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.frames, y.frames) and np.array_equal(x.voice, y.voice)
        assert x.frames.shape == (37, 64, 64, 3) and len(x.voice) == 37 * 640
        row = score_roundtrip(x, x.frames)  # the original against itself
        assert row["found"] and row["mouth_corr"] > 0.999
        assert row["sync_orig"][1] > 0.9 and abs(row["sync_orig"][0]) <= 2


def test_a_still_mouth_fails_and_a_perfect_copy_passes():
    cases = roundtrip_cases(2, 0, 64, 1.5)
    still = [score_roundtrip(c, np.repeat(c.frames[:1], len(c.frames), axis=0)) for c in cases]
    perfect = [score_roundtrip(c, c.frames.copy()) for c in cases]
    bad, good = summarize_roundtrip(still)["all"], summarize_roundtrip(perfect)["all"]
    assert bad["sync_kept"] == 0.0 and bad["mouth_corr"] < 0.2
    assert good["sync_kept"] == 1.0 and good["mouth_corr"] > 0.999 and good["psnr_first"] == float("inf")
    assert "| all | 2 |" in roundtrip_table(summarize_roundtrip(still))


def test_the_bundled_avatar_vae_round_trips_a_clip():
    from vitascope.models.vae import load_vae

    case = roundtrip_cases(1, 0, 64, 1.0)[0]
    recon = vae_roundtrip(load_vae(AVATAR_VAE).eval(), case.frames)
    assert recon.shape == case.frames.shape and recon.dtype == np.uint8
    row = score_roundtrip(case, recon)
    assert 5.0 < row["psnr_first"] < 60.0
