"""Block/model offload keep outputs equal and hold at most two blocks; fp8 weights within a stated tolerance."""

import dataclasses

import pytest
import torch
from torch import nn

from _helpers import reseed_parameters
from vitascope.models.dit import HunyuanVideoDiT
from vitascope.models.dit.context import DiTInputs
from vitascope.parallel.fp8 import FP8, FP8Linear, apply_fp8_scale_map, fp8_bytes, quantize_fp8
from vitascope.parallel.offload import ModelOffload, offload_blocks
from vitascope.specs import TINY

CFG = dataclasses.replace(TINY, mm_double_blocks_depth=2, mm_single_blocks_depth=3)


def _model(seed=5):
    dit = HunyuanVideoDiT(CFG).eval()
    reseed_parameters(dit, seed)
    return dit


def _call(dit):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 16, 2, 4, 4, generator=g)
    inp = DiTInputs(
        torch.randn(1, 4, 24, generator=g), None, torch.randn(1, 20, generator=g), torch.tensor([4000.0])
    )
    with torch.no_grad():
        return dit.run(x, torch.tensor([600.0]), inp)


def test_block_offload_equal_and_two_blocks_resident():
    dit = _model()
    ref = _call(dit)
    off = offload_blocks(dit, "cpu")
    assert off.resident == set()  # every block dropped until it runs
    assert all(p.numel() == 0 for p in dit.single_blocks[0].parameters())
    out = _call(dit)
    assert torch.equal(out, ref)
    assert off.resident_peak == 2 and off.loads == 5  # the running block and the prefetched next one
    assert off.resident == set()
    off.remove()
    assert torch.equal(_call(dit), ref)


def test_model_offload_one_member_resident():
    torch.manual_seed(0)
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    x = torch.randn(2, 3)
    ref_a, ref_b = a(x), b(x)
    group = ModelOffload("cpu")
    group.add(a, "forward")
    group.add(b, "forward")
    assert a.weight.numel() == 0 and b.weight.numel() == 0  # both wait on the host
    assert torch.equal(a(x), ref_a)
    assert a.weight.numel() == 9 and b.weight.numel() == 0
    assert torch.equal(b(x), ref_b)
    assert a.weight.numel() == 0 and b.weight.numel() == 9
    a(x)
    a(x)  # already resident: no move
    assert group.moves == 3


@pytest.mark.parametrize("per_channel, tol", [(True, 0.08), (False, 0.08)])
def test_fp8_on_the_fly_within_tolerance(per_channel, tol):
    dit = _model()
    ref = _call(dit)
    before = fp8_bytes(dit.double_blocks) + fp8_bytes(dit.single_blocks)
    quantize_fp8(dit, per_channel=per_channel)
    assert isinstance(dit.double_blocks[0].img_attn_qkv, FP8Linear)
    assert dit.double_blocks[0].img_attn_qkv.weight.dtype == FP8
    assert isinstance(dit.final_layer.linear, nn.Linear)  # outside the blocks: untouched
    assert fp8_bytes(dit.double_blocks) + fp8_bytes(dit.single_blocks) < 0.35 * before  # 1 byte vs 4
    out = _call(dit)
    rel = float((out - ref).norm() / ref.norm())
    assert 0 < rel < tol, rel  # e4m3 has a 3-bit mantissa: about 3.6% rms per weight, ~5% at the output here


def test_official_scale_map_model_and_state_dict():
    """Write a release the official way (fp8 weights + a per-layer scale map), read it back both ways."""
    dit = _model()
    ref_q = quantize_fp8(_model(), per_channel=False)
    scale_map, state = {}, dit.state_dict()
    for name, mod in ref_q.named_modules():
        if isinstance(mod, FP8Linear):
            scale_map[name] = mod.scale.clone()
            state[f"{name}.weight"] = mod.weight.clone()  # the `_fp8.pt` holds e4m3 weights
    loaded = _model(seed=9)
    loaded.load_state_dict(state)  # fp8 -> float32 is exact
    apply_fp8_scale_map(loaded, scale_map)
    assert torch.equal(_call(loaded), _call(ref_q))
    deq = apply_fp8_scale_map(state, scale_map)
    key = "double_blocks.0.img_attn_qkv"
    assert torch.equal(deq[f"{key}.weight"], ref_q.get_submodule(key).dequantized(torch.float32))
    del scale_map["single_blocks.0.linear1"]
    with pytest.raises(KeyError, match="single_blocks.0.linear1"):
        apply_fp8_scale_map(_model(), scale_map)


def test_compile_is_regional_and_wired():
    """--compile wraps each block in torch.compile (not run here: compiling on 2 shared CPU cores is slow)."""
    from vitascope.parallel.speed import SpeedOptions, compile_blocks

    dit = _model()
    assert compile_blocks(dit) == 5
    assert all(
        getattr(b, "_compiled_call_impl", None) is not None for b in (*dit.double_blocks, *dit.single_blocks)
    )
    assert getattr(dit, "_compiled_call_impl", None) is None  # the model itself stays eager
    assert SpeedOptions(compile=True).to_dict()["compile"] is True


@pytest.mark.parametrize("per_channel", [True, False])
def test_fp8_matmul_is_the_scaled_product_of_the_quantized_operands(per_channel):
    """The `_scaled_mm` path (PyTorch's CPU reference kernel here; tensor cores on CUDA 8.9+) multiplies the
    row-quantized activations with the fp8 weight: equal to that product done in float, and close to the
    float Linear."""
    from vitascope.parallel.fp8 import quantize_rows

    torch.manual_seed(0)
    lin = nn.Linear(48, 32)
    x = torch.randn(2, 5, 48)  # [B, L, in]: leading dims are kept
    layer = FP8Linear.from_linear(lin, per_channel=per_channel, matmul="scaled")
    assert layer.uses_scaled_mm(torch.device("cpu"))
    y = layer(x)
    assert y.shape == (2, 5, 32) and y.dtype == torch.float32
    xq, xs = quantize_rows(x.reshape(-1, 48))
    want = (xq.float() * xs) @ (layer.weight.float() * layer.scale).t() + lin.bias
    # the kernel rounds to bf16 before the bias (what the CUDA row-scaled kernels return)
    torch.testing.assert_close(y.reshape(-1, 32), want, atol=2e-2, rtol=1e-2)
    with torch.no_grad():
        ref = lin(x)
    rel = float((y - ref).norm() / ref.norm())
    assert rel < 0.08, rel  # two e4m3 operands: a few % rms
    dequant = FP8Linear.from_linear(lin, per_channel=per_channel, matmul="dequant")
    assert not torch.equal(dequant(x), y)  # a different computation (activations stay float there)


def test_fp8_matmul_auto_is_weight_only_on_the_cpu_and_the_dit_stays_close():
    layer = FP8Linear.from_linear(nn.Linear(32, 32))
    assert layer.matmul == "auto" and not layer.uses_scaled_mm(torch.device("cpu"))
    dit = _model()
    ref = _call(dit)
    quantize_fp8(dit, matmul="scaled")
    assert dit.double_blocks[0].img_attn_qkv.matmul == "scaled"
    rel = float((_call(dit) - ref).norm() / ref.norm())
    assert 0 < rel < 0.12, rel


def test_fp8_matmul_option_is_checked():
    from vitascope.errors import InvalidOptionError
    from vitascope.parallel.speed import SpeedOptions

    with pytest.raises(InvalidOptionError, match="fp8-matmul"):
        SpeedOptions(quantize="fp8", fp8_matmul="always")
    with pytest.raises(ValueError, match="matmul"):
        FP8Linear.from_linear(nn.Linear(4, 4), matmul="fast")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_cuda_graph_blocks_equal_eager_blocks():
    """The blocks compiled with CUDA graphs give the eager model's output, step after step (replays)."""
    from vitascope.parallel.speed import compile_blocks

    dit = _model().cuda()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 16, 2, 4, 4, generator=g).cuda()
    inp = DiTInputs(
        torch.randn(1, 4, 24, generator=g).cuda(), None, torch.randn(1, 20, generator=g).cuda(),
        torch.tensor([4000.0]).cuda(),
    )  # fmt: skip
    steps = [torch.tensor([t], device="cuda") for t in (900.0, 500.0, 100.0, 900.0)]
    with torch.no_grad():
        want = [dit.run(x, t, inp).clone() for t in steps]
        compile_blocks(dit, cuda_graphs=True)
        got = [dit.run(x, t, inp) for t in steps]  # kept alive across replays: each step is its own
    for a, b in zip(want, got, strict=True):
        torch.testing.assert_close(b, a, atol=2e-3, rtol=2e-3)
