"""Context windows over the latent timeline: the schedules' index rules and the averaging wrapper."""

import dataclasses

import pytest
import torch

from _helpers import reseed_parameters
from vitascope.flow import shifted_sigmas
from vitascope.flow.sampler import StepInfo, constant_guidance, denoise
from vitascope.flow.windows import count_windows, overlapping_windows, shifted_windows, windowed_predict
from vitascope.models.dit import HunyuanVideoDiT
from vitascope.models.dit.sampling import TextCondition, dit_predict
from vitascope.specs import TINY


def _step(i, n=50):
    return StepInfo(i, n, 0.0, 0.0)


def test_overlapping_windows_follow_musev_uniform_v2():
    sched = overlapping_windows(12, 4)  # MuseV's CLI default: 12 frames, step 8
    assert sched(_step(0), 12) == [list(range(12))]
    w = sched(_step(0), 30)
    assert [x[0] for x in w] == [0, 8, 16, 24] and w[-1] == list(range(24, 30))
    # tails are truncated, not wrapped; a tail ending where the previous window ends is dropped
    assert sched(_step(0), 21) == [list(range(12)), list(range(8, 20)), [16, 17, 18, 19, 20]]
    assert sched(_step(0), 20) == [list(range(12)), list(range(8, 20))]
    with pytest.raises(ValueError):
        overlapping_windows(4, 4)


def test_shifted_windows_follow_the_avatar_release():
    """33-frame windows whose seams move 10 frames per step, circular (the release) or kept inside."""
    sched = shifted_windows(33, 10)
    assert sched(_step(0), 33) == [list(range(33))]  # one window: no shift
    w0, w1, w4 = sched(_step(0), 66), sched(_step(1), 66), sched(_step(4), 66)
    assert w0 == [list(range(33)), list(range(33, 66))]
    assert w1[0] == [(-10 + j) % 66 for j in range(33)] and w1[1] == list(range(23, 56))
    assert w4[0][0] == (-(40 % 33)) % 66  # the offset wraps modulo the window size
    # 97 latent frames = 3 windows of 33 (the release pads to whole windows; ours may overlap a little)
    w = sched(_step(2), 97)
    assert len(w) == 3 and sorted({i for x in w for i in x}) == list(range(97))
    flat = shifted_windows(33, 10, circular=False)
    for i in range(5):
        ws = flat(_step(i), 97)
        assert all(x == list(range(x[0], x[0] + 33)) for x in ws)  # never wraps
        assert sorted({j for x in ws for j in x}) == list(range(97))
    assert count_windows(sched, 97, 3) == [3, 3, 3]


def test_windows_average_overlapping_velocities():
    calls = []

    def inner(x, t, branch, step):
        calls.append(x.shape[2])
        return torch.ones_like(x) * x.shape[2]  # each window answers its own length

    pred = windowed_predict(inner, overlapping_windows(4, 2))
    x = torch.zeros(1, 1, 7, 1, 1)
    v = pred(x, torch.zeros(1), "cond", _step(0))
    assert calls == [4, 4, 3]  # windows [0-3], [2-5], [4-6]
    # frames 2,3 and 4,5 are covered twice: (4+4)/2 and (4+3)/2
    assert v.flatten().tolist() == [4, 4, 4, 4, 3.5, 3.5, 3]


@torch.no_grad()
def test_one_window_equals_the_plain_sampler_and_context_frames_stay_clean():
    cfg = dataclasses.replace(TINY, guidance_embed=False, image_condition_type="token_replace")
    dit = HunyuanVideoDiT(cfg).eval()
    reseed_parameters(dit, 0)
    g = torch.Generator().manual_seed(0)
    cond = TextCondition(
        torch.randn(1, 4, 24, generator=g), torch.ones(1, 4), torch.randn(1, 20, generator=g)
    )
    branches = {"cond": cond.to_inputs(token_replace=False)}
    x = torch.randn(1, 16, 3, 4, 4, generator=g)
    sig = shifted_sigmas(3, 5.0)
    plain = dit_predict(dit, branches, dtype=torch.float32)
    want = denoise(x, sig, plain, constant_guidance(1.0))
    got = denoise(x, sig, windowed_predict(plain, shifted_windows(3, 1)), constant_guidance(1.0))
    assert torch.equal(got, want)

    # with a clean context frame in every window (the I2V token-replace path), 2 windows over 4 frames
    first = torch.randn(1, 16, 1, 4, 4, generator=g)
    tr = dit_predict(dit, {"cond": cond.to_inputs(token_replace=True)}, dtype=torch.float32, image_latents=first,
                     mode="token_replace")  # fmt: skip
    long = torch.randn(1, 16, 4, 4, 4, generator=g)
    out = denoise(
        long, sig, windowed_predict(tr, overlapping_windows(2, 0), context=first), constant_guidance(1.0)
    )
    assert out.shape == long.shape and out.isfinite().all()
    # each window saw the context: the first window alone equals an I2V clip of [first, frames 0-1]
    clip = torch.cat([first, long[:, :, :2]], dim=2)
    ref = denoise(clip, sig, tr, constant_guidance(1.0))
    assert torch.allclose(out[:, :, :2], ref[:, :, 1:], atol=1e-5)


def test_riflex_slows_the_intrinsic_temporal_frequency_only():
    import math

    from vitascope.nn.rope import riflex_frequency, rope_cos_sin

    k, w = riflex_frequency(16, 256.0, native=33, target=66)  # the 13B model's time axis, 2x length
    freqs = [1 / 256.0 ** (2 * j / 16) for j in range(8)]
    periods = [2 * math.pi / f for f in freqs]
    assert k == min(range(8), key=lambda j: abs(periods[j] - 33))
    assert 2 * math.pi / w >= 66  # one period now covers the longer clip
    plain = rope_cos_sin((70, 1, 1), (16, 8, 8), 256.0)
    slow = rope_cos_sin((70, 1, 1), (16, 8, 8), 256.0, time_freq=(k, w))
    changed = (plain[0] != slow[0]).any(dim=0).nonzero().flatten().tolist()
    assert changed == [2 * k, 2 * k + 1]  # the interleaved pair of that one component
    dit = HunyuanVideoDiT(TINY)
    before = dit.rope_for((8, 1, 1), (0, 0, 0), "cpu")
    dit.set_riflex(2, 8)
    after = dit.rope_for((8, 1, 1), (0, 0, 0), "cpu")
    assert not torch.equal(before[0], after[0])
    dit.set_riflex(None)
    assert torch.equal(dit.rope_for((8, 1, 1), (0, 0, 0), "cpu")[0], before[0])
