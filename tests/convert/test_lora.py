"""LoRA: a PEFT LoRA on our DiT, saved in Tencent/Kohya format and merged, gives PEFT's own outputs."""

import pytest
import torch
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

from _helpers import reseed_parameters
from vitascope.convert.lora import load_lora, merge_lora, parse_lora, to_kohya
from vitascope.errors import WeightLoadError
from vitascope.io.files import save_safetensors_atomic
from vitascope.models.dit import HunyuanVideoDiT
from vitascope.specs import TINY

# The official I2V LoRA targets (spec 3.4)
TARGETS = [
    "linear",
    "fc1",
    "fc2",
    "img_attn_qkv",
    "img_attn_proj",
    "txt_attn_qkv",
    "txt_attn_proj",
    "linear1",
    "linear2",
]


def _inputs():
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(1, 16, 2, 4, 4, generator=g),
        torch.tensor([500.0]),
        torch.randn(1, 5, 24, generator=g),
        torch.ones(1, 5, dtype=torch.long),
        torch.randn(1, 20, generator=g),
        torch.tensor([6000.0]),
    )


@torch.no_grad()
def test_kohya_merge_equals_peft_forward(tmp_path):
    base = HunyuanVideoDiT(TINY)
    reseed_parameters(base, 0)
    clean = {k: v.clone() for k, v in base.state_dict().items()}
    peft_model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=4, target_modules=TARGETS, init_lora_weights="gaussian")
    )
    for n, p in peft_model.named_parameters():
        if "lora_B" in n:  # PEFT zero-inits B; make the LoRA do something
            p.normal_(0, 0.05)
    expected = peft_model(*_inputs())
    lora = parse_lora(get_peft_model_state_dict(peft_model), HunyuanVideoDiT(TINY))
    assert len(lora) > 10
    save_safetensors_atomic(tmp_path / "pytorch_lora_kohaya_weights.safetensors", to_kohya(lora))

    fresh = HunyuanVideoDiT(TINY)
    fresh.load_state_dict(clean)
    before = fresh(*_inputs())
    n = load_lora(tmp_path / "pytorch_lora_kohaya_weights.safetensors", fresh)
    assert n == len(lora)
    got = fresh(*_inputs())
    assert (got - expected).abs().max() < 1e-5
    assert (before - expected).abs().max() > 1e-3  # the LoRA mattered


def test_kohya_names_with_underscores_resolve():
    model = HunyuanVideoDiT(TINY)
    r = 2
    state = {
        "Hunyuan_video_I2V_lora_double_blocks_0_img_attn_qkv.lora_down.weight": torch.zeros(r, 32),
        "Hunyuan_video_I2V_lora_double_blocks_0_img_attn_qkv.lora_up.weight": torch.zeros(96, r),
        "Hunyuan_video_I2V_lora_double_blocks_0_img_attn_qkv.alpha": torch.tensor(2.0),
    }
    lora = parse_lora(state, model)
    assert (
        list(lora) == ["double_blocks.0.img_attn_qkv"] and lora["double_blocks.0.img_attn_qkv"].scale == 1.0
    )
    merge_lora(model, lora)


def test_bad_lora_is_named():
    model = HunyuanVideoDiT(TINY)
    with pytest.raises(WeightLoadError, match="targets no Linear"):
        parse_lora({"lora_unet_nothing_here.lora_down.weight": torch.zeros(1, 1)}, model)
    with pytest.raises(WeightLoadError, match="lacks its up"):
        parse_lora({"lora_double_blocks_0_img_attn_qkv.lora_down.weight": torch.zeros(1, 32)}, model)
