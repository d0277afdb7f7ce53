"""The DiT as stages: a variant adds vector terms, per-token additions, prepended tokens with their own RoPE
positions, hooks between blocks and tokens dropped before the head, without copying `forward`."""

import dataclasses

import pytest
import torch
from torch import nn

from _helpers import reseed_parameters
from vitascope.models.dit import HunyuanVideoDiT
from vitascope.models.dit.context import DiTInputs, trim_text_padding
from vitascope.specs import TINY

CFG = dataclasses.replace(TINY, mm_double_blocks_depth=2, mm_single_blocks_depth=2)


class RefDiT(HunyuanVideoDiT):
    """A small test variant: a reference frame prepended at RoPE time -1, a per-token addition, an extra vector
    term and an adapter after every double block, all zero-initialised (so a fresh variant = its base)."""

    def __init__(self, config):
        super().__init__(config)
        D = config.hidden_size
        self.extra_vec = nn.Linear(1, D)
        self.token_add = nn.Linear(D, D)
        self.adapters = nn.ModuleList(nn.Linear(D, D) for _ in range(config.mm_double_blocks_depth))
        for m in [self.extra_vec, self.token_add, *self.adapters]:
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
        self.calls = []

    def embed_vec(self, ctx):
        ctx.vec = ctx.vec + self.extra_vec(ctx.inputs.extra["scalar"])

    def embed_tokens(self, ctx):
        ref = self.img_in(ctx.inputs.extra["ref"])  # [B, P, D] through the shared patch embedding
        ctx.img = ctx.img + self.token_add(ctx.img)
        ctx.prepend(ref, self.rope_for((1, *ctx.grid[1:]), (-1, 0, 0), ref.device))

    def after_double(self, i, ctx):
        self.calls.append(("double", i, ctx.img.shape[1]))
        ctx.img = ctx.img + self.adapters[i](ctx.img)

    def before_head(self, ctx):
        self.calls.append(("head", ctx.n_prefix))


def _inputs(B=2, T=2, H=4, W=4, S=5):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, CFG.in_channels, T, H, W, generator=g)
    states = torch.randn(B, S, CFG.text_states_dim, generator=g)
    mask = torch.ones(B, S, dtype=torch.long)
    mask[1, 3:] = 0
    pooled = torch.randn(B, CFG.text_states_dim_2, generator=g)
    t = torch.tensor([900.0, 300.0])
    guidance = torch.tensor([6000.0, 6000.0])
    extra = {"ref": torch.randn(B, CFG.in_channels, 1, H, W, generator=g), "scalar": torch.ones(B, 1)}
    return x, t, states, mask, pooled, guidance, extra


@torch.no_grad()
def test_zero_initialised_variant_equals_its_base_and_drops_its_prefix():
    base = HunyuanVideoDiT(CFG)
    reseed_parameters(base, 1)
    variant = RefDiT(CFG)
    variant.load_state_dict(base.state_dict(), strict=False)
    x, t, states, mask, pooled, guidance, extra = _inputs()
    want = base(x, t, states, mask, pooled, guidance)
    # The prepended reference tokens take part in attention, so they change the output a little; with the
    # reference removed from attention the variant must be its base exactly. Check both.
    got = variant(x, t, states, mask, pooled, guidance, **extra)
    assert got.shape == want.shape
    # latent (2, 4, 4) with patch (1, 2, 2): grid (2, 2, 2) = 8 image tokens, after 4 reference tokens
    assert variant.calls == [("double", 0, 12), ("double", 1, 12), ("head", 4)]
    assert not torch.allclose(got, want, atol=1e-5)  # the reference frame is seen

    class NoPrefix(RefDiT):
        def embed_tokens(self, ctx):
            ctx.img = ctx.img + self.token_add(ctx.img)

    plain = NoPrefix(CFG)
    plain.load_state_dict(base.state_dict(), strict=False)
    assert torch.allclose(plain(x, t, states, mask, pooled, guidance, **extra), want, atol=1e-6)


@torch.no_grad()
def test_trained_variant_terms_change_the_output():
    variant = RefDiT(CFG)
    reseed_parameters(variant, 2)
    x, t, states, mask, pooled, guidance, extra = _inputs()
    a = variant(x, t, states, mask, pooled, guidance, **extra)
    extra2 = {**extra, "scalar": 3 * extra["scalar"]}
    assert not torch.allclose(a, variant(x, t, states, mask, pooled, guidance, **extra2), atol=1e-5)


@torch.no_grad()
def test_plugins_run_at_their_hooks():
    model = HunyuanVideoDiT(CFG)
    reseed_parameters(model, 3)
    seen = []

    class Spy:
        def after_double(self, i, ctx):
            seen.append(("double", i))

        def after_single(self, i, ctx):
            seen.append(("single", i, ctx.n_img))
            ctx.img = ctx.img * 1.0  # a hook may replace tokens; the joint sequence is rebuilt

    x, t, states, mask, pooled, guidance, _ = _inputs()
    want = model(x, t, states, mask, pooled, guidance)
    spy = Spy()
    model.add_plugin(spy)
    got = model(x, t, states, mask, pooled, guidance)
    assert seen == [("double", 0), ("double", 1), ("single", 0, 8), ("single", 1, 8)]
    assert torch.allclose(got, want, atol=1e-6)
    model.remove_plugin(spy)
    with pytest.raises(TypeError, match="at least one of"):
        model.add_plugin(object())


@torch.no_grad()
def test_run_with_prepared_inputs_has_no_host_sync_and_caches_rope(monkeypatch):
    model = HunyuanVideoDiT(CFG)
    reseed_parameters(model, 4)
    x, t, states, mask, pooled, guidance, _ = _inputs()
    want = model(x, t, states, mask, pooled, guidance)
    s, m, padded = trim_text_padding(states, mask)  # once, outside the step loop
    inputs = DiTInputs(s, m, pooled, guidance, text_padded=padded)
    rope_before = model.rope_for((1, 2, 2), (0, 0, 0), x.device)

    def boom(*a, **k):
        raise AssertionError("device-to-host sync inside a DiT step")

    for name in ("item", "__bool__", "__int__", "__float__", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, boom)
    got = model.run(x, t, inputs)
    monkeypatch.undo()
    assert torch.allclose(got, want, atol=1e-6)
    assert model.rope_for((1, 2, 2), (0, 0, 0), x.device) is rope_before
    assert len(model._rope_cache) == 2  # the (1,2,2) table asked above and the clip's own grid


def test_attention_backend_is_chosen_from_outside():
    from vitascope.errors import InvalidOptionError
    from vitascope.nn.attention import available_backends, get_backend

    model = HunyuanVideoDiT(CFG)
    reseed_parameters(model, 5)
    x, t, states, mask, pooled, guidance, _ = _inputs()
    with torch.no_grad():
        want = model(x, t, states, mask, pooled, guidance)
        calls = []

        def counting(q, k, v, mask):
            calls.append(q.shape)
            return get_backend("math")(q, k, v, mask)

        model.set_attention(counting)
        got = model(x, t, states, mask, pooled, guidance)
        # refiner (1 block x 2 depth) + 2 double + 2 single
        assert len(calls) == CFG.refiner_depth + 4
        assert torch.allclose(got, want, atol=1e-5)
        for name in available_backends():
            model.set_attention(name)
            assert torch.allclose(model(x, t, states, mask, pooled, guidance), want, atol=1e-4), name
    with pytest.raises(InvalidOptionError, match="one of"):
        model.set_attention("nope")
