"""The one sampler: predict + guidance policy + Euler, and the DiT sampler built on it."""

import dataclasses

import torch

from _helpers import reseed_parameters
from vitascope.flow import cfg_combine, shifted_sigmas
from vitascope.flow.sampler import StepGuidance, constant_guidance, denoise
from vitascope.models.dit import HunyuanVideoDiT
from vitascope.models.dit.sampling import TextCondition, sample_dit
from vitascope.specs import TINY


def test_policy_chooses_scale_and_branch_per_step():
    """A two-regime policy (negative text first, another branch later) is honoured step by step."""
    calls = []

    def predict(x, t, branch, step):
        calls.append((step.index, branch))
        return {"cond": 1.0, "negative": 0.0, "no_audio": 0.5}[branch] * torch.ones_like(x)

    def policy(step):
        if step.index < 2:
            return StepGuidance(3.0, "negative")
        return StepGuidance(2.0, "no_audio")

    x0 = torch.zeros(1, 1, 1, 1, 1)
    sig = shifted_sigmas(4, 1.0)
    out = denoise(x0, sig, predict, policy)
    assert calls == [
        (0, "cond"),
        (0, "negative"),
        (1, "cond"),
        (1, "negative"),
        (2, "cond"),
        (2, "no_audio"),
    ] + [
        (3, "cond"),
        (3, "no_audio"),
    ]
    # velocities 3 (=0+3*(1-0)) for two steps then 1.5 (=0.5+2*(1-0.5)); each step moves by -(1/4) v
    assert torch.allclose(out, torch.full_like(x0, -(3 * 0.25 * 2 + 1.5 * 0.25 * 2)))


def test_scale_one_runs_the_conditional_branch_only():
    seen = []
    denoise(
        torch.zeros(1, 1, 1, 1, 1),
        shifted_sigmas(3, 1.0),
        lambda x, t, b, s: seen.append(b) or torch.zeros_like(x),
        constant_guidance(1.0),
    )
    assert seen == ["cond"] * 3


@torch.no_grad()
def test_dit_sampler_equals_a_hand_written_cfg_loop():
    """sample_dit (trimmed text, prepared inputs, policy) = the plain loop over forward()."""
    cfg = dataclasses.replace(TINY, guidance_embed=False)
    dit = HunyuanVideoDiT(cfg).eval()
    reseed_parameters(dit, 0)
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(1, 16, 2, 4, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    cond = TextCondition(torch.randn(1, 5, 24, generator=g), mask, torch.randn(1, 20, generator=g))
    neg = TextCondition(torch.randn(1, 5, 24, generator=g), torch.tensor([[1, 0, 0, 0, 0]]), cond.pooled)
    got = sample_dit(
        dit, noise, cond, neg, steps=3, shift=5.0, guidance=1.0, cfg_scale=4.0, dtype=torch.float32
    )
    x, sig = noise.clone(), shifted_sigmas(3, 5.0)
    for i in range(3):
        t = (sig[i] * 1000).expand(1)
        v = dit(x, t, cond.states, cond.mask, cond.pooled)
        vn = dit(x, t, neg.states, neg.mask, neg.pooled)
        x = x + (sig[i + 1] - sig[i]) * cfg_combine(v, vn, 4.0)
    assert torch.allclose(got, x, atol=1e-5)


@torch.no_grad()
def test_dit_sampler_runs_a_guidance_embedding_dit_with_token_replace():
    """The trainer's old second sampler crashed here (review R4); the one sampler handles both."""
    cfg = dataclasses.replace(TINY, image_condition_type="token_replace")
    assert cfg.guidance_embed
    dit = HunyuanVideoDiT(cfg).eval()
    reseed_parameters(dit, 1)
    g = torch.Generator().manual_seed(1)
    cond = TextCondition(
        torch.randn(1, 4, 24, generator=g), torch.ones(1, 4), torch.randn(1, 20, generator=g)
    )
    first = torch.randn(1, 16, 1, 4, 4, generator=g)
    out = sample_dit(
        dit,
        torch.randn(1, 16, 3, 4, 4, generator=g),
        cond,
        None,
        steps=2,
        shift=7.0,
        guidance=6.0,
        cfg_scale=1.0,
        dtype=torch.float32,
        image_latents=first,
        mode="token_replace",
    )
    assert torch.equal(out[:, :, :1], first)  # the clean frame is never stepped
    assert out.isfinite().all()
