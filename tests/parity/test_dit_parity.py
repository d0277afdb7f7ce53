"""The MM-DiT against diffusers' HunyuanVideoTransformer3DModel on identical weights (tiny, fp32)."""

import dataclasses

import pytest
import torch
from diffusers import HunyuanVideoTransformer3DModel

from _helpers import reseed_parameters
from vitascope.convert.diffusers_dit import (
    config_from_diffusers,
    config_to_diffusers,
    diffusers_to_tencent,
    tencent_to_diffusers,
)
from vitascope.models.dit import HunyuanVideoDiT
from vitascope.specs import TINY

VARIANTS = {
    "t2v": TINY,
    "token_replace": dataclasses.replace(TINY, image_condition_type="token_replace"),
    "latent_concat": dataclasses.replace(
        TINY, in_channels=33, guidance_embed=False, image_condition_type="latent_concat"
    ),
}


def _pair(cfg, seed=0):
    ref = HunyuanVideoTransformer3DModel(
        **{k: v for k, v in config_to_diffusers(cfg).items() if k != "_class_name"}
    )
    reseed_parameters(ref, seed)
    ours = HunyuanVideoDiT(config_from_diffusers(dict(ref.config)))
    ours.load_state_dict(diffusers_to_tencent(ref.state_dict()), strict=True)
    return ref.eval(), ours.eval()


def _inputs(cfg, B=2, T=3, H=4, W=6, S=7):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, cfg.in_channels, T, H, W, generator=g)
    states = torch.randn(B, S, cfg.text_states_dim, generator=g)
    mask = torch.ones(B, S, dtype=torch.long)
    mask[0, 4:] = 0  # padded text in one sample, so the masks are exercised
    pooled = torch.randn(B, cfg.text_states_dim_2, generator=g)
    t = torch.tensor([937.5, 120.0])
    guidance = torch.tensor([6000.0, 3500.0]) if cfg.guidance_embed else None
    return x, t, states, mask, pooled, guidance


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@torch.no_grad()
def test_transformer_matches_diffusers(variant):
    cfg = VARIANTS[variant]
    ref, ours = _pair(cfg)
    x, t, states, mask, pooled, guidance = _inputs(cfg)
    expected = ref(x, t, states, mask, pooled, guidance, return_dict=False)[0]
    got = ours(x, t, states, mask, pooled, guidance)
    assert got.shape == (2, cfg.out_channels, 3, 4, 6)
    err = (got - expected).abs().max().item()
    assert err <= 1e-4, f"{variant}: max abs err {err}"


@torch.no_grad()
def test_padded_text_does_not_leak():
    """Changing the states of padded text tokens must not change the output (key mask + refiner mask)."""
    _, ours = _pair(TINY)
    x, t, states, mask, pooled, guidance = _inputs(TINY)
    a = ours(x, t, states, mask, pooled, guidance)
    states2 = states.clone()
    states2[0, 4:] += 5.0
    b = ours(x, t, states2, mask, pooled, guidance)
    assert torch.allclose(a, b, atol=1e-6)


def test_key_layout_round_trip():
    ours = HunyuanVideoDiT(VARIANTS["token_replace"])
    reseed_parameters(ours, 3)
    sd = ours.state_dict()
    back = diffusers_to_tencent(tencent_to_diffusers(sd))
    assert set(back) == set(sd)
    assert all(torch.equal(back[k], sd[k]) for k in sd)


def test_unknown_key_is_named():
    with pytest.raises(KeyError, match="bogus.weight"):
        tencent_to_diffusers({"bogus.weight": torch.zeros(1)})
