"""Our default LoRA file (`diffusion_model.<Tencent path>.lora_A/B.weight`) in other tools' loaders.

- diffusers: HunyuanVideoPipeline.lora_state_dict + load_lora_into_transformer, unrenamed, gives the same
  transformer output as our merged DiT;
- ComfyUI's key rule for HunyuanVideo (a `diffusion_model.` + original module path + `.lora_A/B.weight`
  pair for a 2-D weight of the original checkpoint);
- diffusion-pipe's resume path: strip `diffusion_model.`, PEFT set_peft_model_state_dict with no unexpected
  keys, same forward.
"""

import re

import torch
from diffusers import HunyuanVideoPipeline, HunyuanVideoTransformer3DModel
from lora_builders import _base, _inputs, random_lora
from peft import LoraConfig, inject_adapter_in_model

from vitascope.convert.diffusers_dit import config_to_diffusers, tencent_to_diffusers
from vitascope.convert.lora import LoraPair
from vitascope.convert.lora_formats import save_lora
from vitascope.convert.lora_peft import apply_loras
from vitascope.io.weights import read_state_dict
from vitascope.specs import TINY


def _block_lora(model, **kw):
    """LoRA on the transformer blocks (what trainers target). Not linear1: diffusers' converter hard-codes
    a 3072 hidden size to split it (checked separately below at that width)."""
    return {
        t: p
        for t, p in random_lora(model, **kw).items()
        if "blocks." in t and "refiner" not in t and not t.endswith("linear1")
    }


@torch.no_grad()
def test_saved_file_loads_in_diffusers_unrenamed(tmp_path):
    ours = _base()
    lora = _block_lora(ours)
    assert any(t.endswith("img_attn_qkv") for t in lora) and any(
        t.endswith("modulation.linear") for t in lora
    )
    path = save_lora(lora, tmp_path / "my_lora.safetensors")
    ref = HunyuanVideoTransformer3DModel(
        **{k: v for k, v in config_to_diffusers(TINY).items() if k != "_class_name"}
    )
    ref.load_state_dict(tencent_to_diffusers(ours.state_dict()))
    ref.eval()
    state = HunyuanVideoPipeline.lora_state_dict(str(path))
    HunyuanVideoPipeline.load_lora_into_transformer(state, transformer=ref)
    apply_loras(ours, [(lora, 1.0)], merge=True)
    x, t, states, mask, pooled, guidance = _inputs()
    expected = ours(x, t, states, mask, pooled, guidance)
    got = ref(x, t, states, mask, pooled, guidance, return_dict=False)[0]
    assert (got - expected).abs().max() < 1e-4


def test_linear1_at_full_width_converts_in_diffusers(tmp_path):
    """diffusers splits linear1 as [3072, 3072, 3072, rest]: our file at that width gives q/k/v/mlp parts."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 3072, generator=g), torch.randn(3 * 3072 + 12288, 2, generator=g)
    qkv = LoraPair(
        torch.zeros(2, 3072), torch.zeros(3 * 3072, 2)
    )  # diffusers spots the layout by img_attn_qkv
    lora = {"single_blocks.3.linear1": LoraPair(a, b, 2.0), "double_blocks.0.img_attn_qkv": qkv}
    path = save_lora(lora, tmp_path / "l1.safetensors")
    state = HunyuanVideoPipeline.lora_state_dict(str(path))
    pre = "transformer.single_transformer_blocks.3."
    parts = [pre + f"attn.to_{x}.lora_B.weight" for x in "qkv"] + [pre + "proj_mlp.lora_B.weight"]
    torch.testing.assert_close(torch.cat([state[k] for k in parts]), b)
    torch.testing.assert_close(state[pre + "attn.to_k.lora_A.weight"], a)


def test_comfyui_key_rule(tmp_path):
    model = _base()
    lora = random_lora(model)
    keys = read_state_dict(save_lora(lora, tmp_path / "c.safetensors"))
    original = model.state_dict()  # our DiT's state dict *is* the original checkpoint layout (parity tests)
    seen = {}
    for key, value in keys.items():
        m = re.fullmatch(r"diffusion_model\.(.+)\.lora_(A|B)\.weight", key)
        assert m, key
        weight = original.get(m.group(1) + ".weight")
        assert weight is not None and weight.ndim == 2, key
        seen.setdefault(m.group(1), {})[m.group(2)] = value
    for path, ab in seen.items():
        w = original[path + ".weight"]
        assert (
            ab["A"].shape[1] == w.shape[1]
            and ab["B"].shape[0] == w.shape[0]
            and ab["A"].shape[0] == ab["B"].shape[1]
        )
    assert set(seen) == set(lora)


@torch.no_grad()
def test_diffusion_pipe_resume_path(tmp_path):
    """diffusion-pipe injects PEFT LoRA layers into the original-named transformer and loads a LoRA file by
    dropping a `transformer.`/`diffusion_model.` prefix, spelling `.weight` as `.default.weight`, and
    requiring every key to be one of the model's parameters."""
    ours = _base()
    lora = {t: p for t, p in random_lora(ours, rank=4, alpha=4.0).items() if "blocks." in t}
    keys = read_state_dict(save_lora(lora, tmp_path / "adapter_model.safetensors"))
    base = _base()
    inject_adapter_in_model(LoraConfig(r=4, lora_alpha=4, target_modules=sorted(lora)), base)
    params = {n for n, _ in base.named_parameters()}
    renamed = {
        re.sub(r"\.weight$", ".default.weight", re.sub(r"^(transformer|diffusion_model)\.", "", k)): v
        for k, v in keys.items()
    }
    assert set(renamed) <= params, sorted(set(renamed) - params)[:5]
    assert len(renamed) == 2 * len(lora)
    base.load_state_dict(renamed, strict=False)
    apply_loras(ours, [(lora, 1.0)], merge=True)
    assert (base(*_inputs()) - ours(*_inputs())).abs().max() < 1e-4
