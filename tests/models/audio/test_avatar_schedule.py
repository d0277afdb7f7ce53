"""The Avatar's sampling rules against what the official pipeline loop did (recorded by scripts/avatar_golden.py)."""

from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from vitascope.flow.avatar import (
    avatar_guidance,
    avatar_mask_scale,
    avatar_timeline,
    avatar_windows,
    deepcache_full_step,
    pad_audio_frames,
    window_audio_indices,
)
from vitascope.flow.sampler import StepInfo
from vitascope.flow.schedule import shifted_sigmas

PATH = Path(__file__).parents[2] / "golden" / "avatar" / "sampling.safetensors"
G = load_file(str(PATH))
with safe_open(str(PATH), "pt") as _f:
    META = _f.metadata()


@pytest.mark.parametrize("L", [129, 134, 305])
def test_guidance_mask_and_cache_match_official(L):
    policy = avatar_guidance(7.5)
    sig = shifted_sigmas(50, 5.0)
    torch.testing.assert_close((sig[:50] * 1000).float(), G[f"t_{L}"], atol=1e-3, rtol=0)
    for i in range(50):
        g = policy(StepInfo(i, 50, float(sig[i]), float(sig[i + 1])))
        assert g.scale == pytest.approx(float(G[f"guidance_{L}"][i]), abs=1e-12)
        assert g.uncond == ("negative" if G[f"uncond_text_{L}"][i] < 0 else "no_audio") and g.cond == "cond"
        assert avatar_mask_scale(i) == pytest.approx(float(G[f"mask_scale_{L}"][i]))
        assert deepcache_full_step(i) == (not bool(G[f"is_cache_{L}"][i]))
    assert bool(G[f"uncond_audio_zero_{L}"].all())


def _windows(step, tl, circular=True):
    return avatar_windows(tl, circular)(StepInfo(step, 50, 0.5, 0.5), tl.latent_frames)


@pytest.mark.parametrize("L", [129, 134, 305])
def test_windows_match_official(L):
    """flow.windows.shifted_windows as the Avatar uses it, and the audio slices, against the release loop."""
    tl = avatar_timeline(L)
    n = int(META[f"windows_{L}"])
    audio_values = torch.cat([torch.arange(1, L + 1), torch.zeros(tl.audio_frames - L, dtype=torch.long)])
    for i in range(50):
        wins = _windows(i, tl)
        assert len(wins) == n
        for w, idx in enumerate(wins):
            assert idx == G[f"idx_{L}"][i, w].tolist(), (i, w)
            aidx = window_audio_indices(idx, tl)
            assert torch.equal(audio_values[aidx], G[f"audio_{L}"][i, w].long()), (i, w)


def test_timeline_and_padding():
    tl = avatar_timeline(305)
    assert (tl.latent_frames, tl.kept_frames, tl.audio_frames, tl.shift) == (97, 77, 388, 10)
    assert avatar_timeline(129).single and avatar_timeline(129).shift == 0
    for i in range(50):  # the non-wrapping schedule never puts the clip's end next to its start
        for idx in _windows(i, tl, circular=False):
            assert not (0 in idx and tl.latent_frames - 1 in idx)
            assert window_audio_indices(idx, tl).max() < tl.audio_frames
    a = torch.ones(1, 100, 10, 5, 2)
    assert pad_audio_frames(a).shape[1] == 129 and pad_audio_frames(a)[:, 100:].abs().sum() == 0
    assert pad_audio_frames(torch.ones(1, 300, 1)).shape[1] == 305
    with pytest.raises(ValueError, match="pad"):
        avatar_timeline(100)


def test_windowed_predict_equals_the_release_averaging():
    """Window velocities averaged then one Euler step == the release's per-window steps averaged per frame."""
    from vitascope.flow.windows import windowed_predict

    tl = avatar_timeline(305)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, tl.latent_frames, 2, 3, generator=g, dtype=torch.float64)
    audio = torch.randn(tl.audio_frames, generator=g, dtype=torch.float64)

    def velocity(xw, window):  # depends on the window's audio and position: overlapping windows disagree
        return xw * (1 + window[0] / 100) + audio[window_audio_indices(window, tl)][::4][:33].view(
            1, 1, -1, 1, 1
        )

    step = StepInfo(3, 50, 0.8, 0.78)
    dt = step.sigma_next - step.sigma
    inner = lambda xw, t, branch, st: velocity(xw, st.window)  # noqa: E731
    ours = x + dt * windowed_predict(inner, avatar_windows(tl))(x, torch.tensor([800.0]), "cond", step)
    pred = torch.zeros_like(x)
    count = torch.zeros(tl.latent_frames, dtype=x.dtype)
    for idx in _windows(3, tl):
        xw = x[:, :, idx]
        stepped = xw + dt * velocity(xw, idx)
        for j, p in enumerate(idx):
            pred[:, :, p] += stepped[:, :, j]
            count[p] += 1
    torch.testing.assert_close(ours, (pred / count.view(1, 1, -1, 1, 1)).to(ours.dtype))
    assert (count > 1).any()  # at step 3 of 97 frames, a frame is covered twice
