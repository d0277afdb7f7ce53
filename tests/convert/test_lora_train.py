"""A trainable PEFT LoRA on our DiT: only the adapter trains, a few steps change the output, and the saved
file (our default format) merged into a fresh DiT reproduces the trained model."""

import pytest
import torch
from lora_builders import _base, _inputs

from vitascope.convert.lora import read_lora
from vitascope.convert.lora_formats import save_lora
from vitascope.convert.lora_peft import add_trainable_lora, apply_loras, extract_lora
from vitascope.errors import InvalidOptionError


def test_few_steps_then_save_and_merge(tmp_path):
    model = _base()
    x = _inputs()
    with torch.no_grad():
        before = model(*x)
    n = add_trainable_lora(model, rank=4, alpha=8.0, targets="blocks")
    trainable = [k for k, p in model.named_parameters() if p.requires_grad]
    assert n > 0 and all(".lora_" in k for k in trainable)
    assert not any("_mod." in k or "modulation" in k for k in trainable)  # the default preset skips them
    with torch.no_grad():
        assert (model(*x) - before).abs().max() == 0  # B starts at zero
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    target = torch.randn_like(before)
    for _ in range(3):
        loss = (model(*x) - target).pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
    with torch.no_grad():
        trained = model(*x)
    assert (trained - before).abs().max() > 1e-3

    lora = extract_lora(model)
    assert lora and all(p.alpha == 8.0 and p.rank == 4 for p in lora.values())
    path = save_lora(lora, tmp_path / "trained.safetensors", metadata={"vitascope.base": "tiny"})
    fresh = _base()
    apply_loras(fresh, [(read_lora(path, fresh), 1.0)], merge=True)
    with torch.no_grad():
        assert (fresh(*x) - trained).abs().max() < 1e-5


def test_i2v_preset_and_bad_targets():
    model = _base()
    add_trainable_lora(model, rank=2, targets="i2v")
    assert any("img_mod.linear" in k for k in extract_lora(model))
    with pytest.raises(InvalidOptionError, match="match no layer"):
        add_trainable_lora(_base(), rank=2, targets=["no_such_layer"])
