import numpy as np
import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from vitascope.flow import (
    cfg_combine,
    embedded_guidance,
    euler_step,
    interpolate,
    sample_t,
    shifted_sigmas,
    timesteps_from_sigmas,
    velocity_target,
)


@pytest.mark.parametrize("steps,shift", [(50, 7.0), (30, 17.0), (4, 1.0), (1, 5.0), (13, 2.5)])
def test_sigmas_and_timesteps_match_diffusers_exactly(steps, shift):
    ref = FlowMatchEulerDiscreteScheduler(shift=shift)
    ref.set_timesteps(sigmas=np.linspace(1.0, 0.0, steps + 1)[:-1])
    sig = shifted_sigmas(steps, shift)
    assert torch.equal(sig, ref.sigmas)
    assert torch.equal(timesteps_from_sigmas(sig), ref.timesteps)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_euler_matches_diffusers_step(dtype):
    ref = FlowMatchEulerDiscreteScheduler(shift=7.0)
    ref.set_timesteps(sigmas=np.linspace(1.0, 0.0, 6)[:-1])
    sig = shifted_sigmas(5, 7.0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 3, 3, generator=g)
    for i, t in enumerate(ref.timesteps):
        v = torch.randn(x.shape, generator=g).to(dtype)
        expected = ref.step(v, t, x, return_dict=False)[0]
        x_new = euler_step(x, v, sig[i], sig[i + 1])
        assert x_new.dtype == expected.dtype
        if dtype == torch.float32:
            assert torch.equal(x_new, expected)
        else:  # diffusers multiplies dt * v in bf16; we keep the product in float32 (more accurate)
            assert torch.allclose(x_new.float(), expected.float(), atol=2e-2)
        x = expected.float()


def test_euler_with_true_velocity_recovers_data():
    """If the model predicted the exact velocity (eps - x0), Euler from sigma 1 lands exactly on x0."""
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 8, generator=g), torch.randn(3, 8, generator=g)
    sig = shifted_sigmas(7, 3.0)
    x = eps.clone()
    for i in range(7):
        x = euler_step(x, velocity_target(x0, eps), sig[i], sig[i + 1])
    assert torch.allclose(x, x0, atol=1e-5)
    # and the path agrees with the sampler's sigma convention
    assert torch.allclose(
        interpolate(x0, eps, torch.full((3,), float(sig[3]))), eps + (sig[3] - 1) * (eps - x0), atol=1e-6
    )


def test_timestep_samplers():
    g = torch.Generator().manual_seed(0)
    u = sample_t(20000, "uniform", generator=g)
    ln = sample_t(20000, "logit_normal", generator=g)
    assert 0 < u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    assert abs(ln.mean() - 0.5) < 0.01 and ln.std() < u.std()  # logit-normal concentrates mid-range
    shifted = sample_t(20000, "logit_normal", shift=7.0, generator=torch.Generator().manual_seed(0))
    assert shifted.mean() > 0.75  # shift pushes training toward high noise, like sampling
    with pytest.raises(ValueError, match="uniform"):
        sample_t(2, "cosine")


def test_guidance_helpers():
    cond, uncond = torch.ones(2, 3), torch.zeros(2, 3)
    assert torch.equal(cfg_combine(cond, uncond, 1.0), cond)
    assert torch.equal(cfg_combine(cond, uncond, 6.0), 6 * cond)
    assert torch.equal(embedded_guidance(6.0, 2), torch.tensor([6000.0, 6000.0]))
