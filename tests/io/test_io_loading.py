"""The four load stages: build on meta, transforms, strict load, place (with progress), on a real DiT."""

import torch
from torch import nn

from _helpers import reseed_parameters
from vitascope.convert.lora import LoraPair, merge_lora, merge_on_load, to_kohya
from vitascope.io.files import save_safetensors_atomic
from vitascope.io.loading import assemble, place
from vitascope.models.dit import HunyuanVideoDiT
from vitascope.specs import TINY


def test_place_moves_each_tensor_and_reports_bytes():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    seen = []
    place(model, "cpu", torch.bfloat16, progress=lambda done, total: seen.append((done, total)))
    assert model[0].weight.dtype == torch.bfloat16 and isinstance(model[0].weight, nn.Parameter)
    assert model[1].num_batches_tracked.dtype == torch.int64  # integers keep their dtype
    assert "running_mean" in model[1].state_dict()  # buffers stay buffers
    total = sum(
        t.numel() * t.element_size()
        for t in [*nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).state_dict().values()]
    )
    assert seen[-1] == (total, total) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_transforms_run_on_meta_before_the_weights_arrive():
    src = HunyuanVideoDiT(TINY)
    reseed_parameters(src, 1)
    calls = []

    def transform(model):
        calls.append(next(model.parameters()).device.type)
        return model

    dit = assemble(
        lambda: HunyuanVideoDiT(TINY),
        src.state_dict(),
        "mem",
        device="cpu",
        dtype=torch.float32,
        transforms=[transform],
    )
    assert calls == ["meta"]
    assert all(
        torch.equal(a, b) for a, b in zip(dit.state_dict().values(), src.state_dict().values(), strict=True)
    )
    assert not dit.training


def test_lora_merged_on_load_equals_lora_merged_after(tmp_path):
    base = HunyuanVideoDiT(TINY)
    reseed_parameters(base, 2)
    g = torch.Generator().manual_seed(5)
    targets = ["double_blocks.0.img_attn_qkv", "single_blocks.0.linear1", "final_layer.linear"]
    modules = dict(base.named_modules())
    lora = {
        t: LoraPair(
            torch.randn(2, modules[t].in_features, generator=g),
            torch.randn(modules[t].out_features, 2, generator=g),
            4.0,
        )
        for t in targets
    }
    path = save_safetensors_atomic(tmp_path / "lora.safetensors", to_kohya(lora))
    after = HunyuanVideoDiT(TINY)
    after.load_state_dict(base.state_dict())
    merge_lora(after, lora, strength=0.7)
    on_load = assemble(
        lambda: HunyuanVideoDiT(TINY),
        base.state_dict(),
        "mem",
        device="cpu",
        dtype=torch.float32,
        transforms=[merge_on_load(path, 0.7)],
    )
    for k, v in after.state_dict().items():
        assert torch.equal(on_load.state_dict()[k], v), k
    changed = [k for k, v in base.state_dict().items() if not torch.equal(v, on_load.state_dict()[k])]
    assert sorted(changed) == sorted(f"{t}.weight" for t in targets)
    on_load.load_state_dict(base.state_dict())  # the hook ran once: a later load is not merged again
    assert torch.equal(on_load.final_layer.linear.weight, base.final_layer.linear.weight)
