"""LoRA: every format round trips, PEFT (run time or merged) equals the merged weights, errors name keys."""

import pytest
import torch
from lora_builders import TARGETS, _base, _inputs, random_lora
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

from vitascope.convert.lora import LoraPair, load_lora, parse_lora, parse_lora_spec, read_lora
from vitascope.convert.lora_formats import FORMATS, save_lora, to_format, to_kohya
from vitascope.convert.lora_peft import adapter_names, apply_loras, set_lora_weights
from vitascope.errors import WeightLoadError
from vitascope.io.files import save_safetensors_atomic
from vitascope.models.dit import HunyuanVideoDiT
from vitascope.specs import TINY


def _deltas(lora):
    return {t: p.delta() for t, p in lora.items()}


def _same(a, b, tol=1e-5):
    assert set(a) == set(b)
    for k in a:
        assert (a[k] - b[k]).abs().max() < tol, k


@pytest.mark.parametrize("fmt", FORMATS)
def test_format_round_trip(fmt, tmp_path):
    model = _base()
    lora = random_lora(model)
    assert any(".linear1" in t for t in lora) and any("final_layer" in t for t in lora)
    path = save_lora(lora, tmp_path / f"{fmt}.safetensors", fmt, {"vitascope.note": "test"})
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert meta["vitascope.lora_format"] == fmt and meta["vitascope.note"] == "test"
    _same(_deltas(read_lora(path, model)), _deltas(lora))
    _same(_deltas(read_lora(path)), _deltas(lora))  # no model: the generic full-size index resolves names


@torch.no_grad()
def test_peft_forward_equals_merged_weights():
    model = _base()
    lora_a, lora_b = random_lora(model, seed=1), random_lora(model, rank=2, alpha=2.0, seed=2)
    x = _inputs()
    names = apply_loras(model, [(lora_a, 0.8), (lora_b, 0.5)], merge=False)
    assert names == ["lora0", "lora1"] == adapter_names(model)
    runtime = model(*x)

    merged = _base()
    sd = merged.state_dict()
    for t in lora_a:
        sd[t + ".weight"] = sd[t + ".weight"] + 0.8 * lora_a[t].delta() + 0.5 * lora_b[t].delta()
    merged.load_state_dict(sd)
    expected = merged(*x)
    assert (runtime - expected).abs().max() < 1e-4
    assert (runtime - _base()(*x)).abs().max() > 1e-2  # the LoRAs matter

    via_peft = _base()
    apply_loras(via_peft, [(lora_a, 0.8), (lora_b, 0.5)], merge=True)
    assert adapter_names(via_peft) == [] and set(via_peft.state_dict()) == set(sd)
    _same({k: via_peft.state_dict()[k] for k in sd}, sd, 1e-5)

    set_lora_weights(model, {"lora1": 0.5})  # run time: drop the first adapter, no reload
    only_b = _base()
    apply_loras(only_b, [(lora_b, 0.5)], merge=True)
    assert (model(*x) - only_b(*x)).abs().max() < 1e-4


@torch.no_grad()
def test_peft_trained_lora_saved_as_kohya_merges_to_peft_forward(tmp_path):
    base = _base()
    clean = {k: v.clone() for k, v in base.state_dict().items()}
    peft_model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, init_lora_weights="gaussian")
    )
    for n, p in peft_model.named_parameters():
        if "lora_B" in n:  # PEFT zero-inits B; make the LoRA do something
            p.normal_(0, 0.05)
    expected = peft_model(*_inputs())
    state = get_peft_model_state_dict(peft_model)
    lora = parse_lora(state, HunyuanVideoDiT(TINY))
    assert len(lora) > 10
    lora = {t: LoraPair(p.down, p.up, 8.0) for t, p in lora.items()}  # PEFT's file does not carry alpha
    save_safetensors_atomic(tmp_path / "pytorch_lora_kohaya_weights.safetensors", to_kohya(lora))
    fresh = HunyuanVideoDiT(TINY)
    fresh.load_state_dict(clean)
    n = load_lora(tmp_path / "pytorch_lora_kohaya_weights.safetensors", fresh)
    assert n == len(lora) and set(fresh.state_dict()) == set(clean)
    assert (fresh(*_inputs()) - expected).abs().max() < 1e-5


def test_diffusers_qkv_fuse_is_block_diagonal():
    """Separate q/k/v LoRAs of different ranks fuse so that B @ A stacks the three deltas."""
    model = _base()
    g = torch.Generator().manual_seed(3)
    state, parts = {}, {}
    for x, r in zip("qkv", (1, 2, 3), strict=True):
        a, b = torch.randn(r, 32, generator=g), torch.randn(32, r, generator=g)
        state[f"transformer.transformer_blocks.0.attn.to_{x}.lora_A.weight"] = a
        state[f"transformer.transformer_blocks.0.attn.to_{x}.lora_B.weight"] = b
        parts[x] = b @ a
    lora = parse_lora(state, model)
    pair = lora["double_blocks.0.img_attn_qkv"]
    assert pair.rank == 6 and pair.up.shape == (96, 6)
    torch.testing.assert_close(pair.delta(), torch.cat([parts["q"], parts["k"], parts["v"]]))
    # single block: only q (no mlp part) -> the other rows of linear1 stay zero
    a, b = torch.randn(2, 32, generator=g), torch.randn(32, 2, generator=g)
    one = parse_lora(
        {
            "transformer.single_transformer_blocks.0.attn.to_q.lora_A.weight": a,
            "transformer.single_transformer_blocks.0.attn.to_q.lora_B.weight": b,
        },
        model,
    )["single_blocks.0.linear1"]
    d = one.delta()
    assert d.shape == model.single_blocks[0].linear1.weight.shape
    torch.testing.assert_close(d[:32], b @ a)
    assert d[32:].abs().max() == 0


def test_kohya_names_with_underscores_resolve():
    model = HunyuanVideoDiT(TINY)
    state = {
        "Hunyuan_video_I2V_lora_double_blocks_0_img_attn_qkv.lora_down.weight": torch.zeros(2, 32),
        "Hunyuan_video_I2V_lora_double_blocks_0_img_attn_qkv.lora_up.weight": torch.zeros(96, 2),
        "Hunyuan_video_I2V_lora_double_blocks_0_img_attn_qkv.alpha": torch.tensor(2.0),
        "lora_unet_double_blocks_0_img_mlp_fc1.lora_down.weight": torch.zeros(2, 32),
        "lora_unet_double_blocks_0_img_mlp_fc1.lora_up.weight": torch.zeros(128, 2),
    }
    lora = parse_lora(state, model)
    assert set(lora) == {"double_blocks.0.img_attn_qkv", "double_blocks.0.img_mlp.fc1"}
    assert lora["double_blocks.0.img_attn_qkv"].scale == 1.0


def test_bad_lora_is_named():
    model = HunyuanVideoDiT(TINY)
    with pytest.raises(WeightLoadError, match="lora_unet_nothing_here.lora_down.weight"):
        parse_lora({"lora_unet_nothing_here.lora_down.weight": torch.zeros(1, 1)}, model)
    with pytest.raises(WeightLoadError, match="transformer.foo.to_q.lora_A.weight"):
        parse_lora({"transformer.foo.to_q.lora_A.weight": torch.zeros(1, 1)}, model)
    with pytest.raises(WeightLoadError, match="lacks its up"):
        parse_lora({"lora_double_blocks_0_img_attn_qkv.lora_down.weight": torch.zeros(1, 32)}, model)
    with pytest.raises(WeightLoadError, match="not LoRA keys"):
        parse_lora({"double_blocks.0.img_attn_qkv.weight": torch.zeros(96, 32)}, model)
    with pytest.raises(WeightLoadError, match="has shape"):
        parse_lora(
            to_format(
                {"double_blocks.0.img_attn_qkv": LoraPair(torch.zeros(2, 8), torch.zeros(96, 2))}, "peft"
            ),
            model,
        )


def test_lora_spec():
    assert parse_lora_spec("a.safetensors:0.8") == ("a.safetensors", 0.8)
    assert parse_lora_spec("a.safetensors", 0.5) == ("a.safetensors", 0.5)
    assert parse_lora_spec("C:/x/a.safetensors") == ("C:/x/a.safetensors", 1.0)
