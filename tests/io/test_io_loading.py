"""The four load stages: build on meta, transforms, strict load, place (with progress), on a real DiT."""

import torch
from torch import nn

from _helpers import reseed_parameters
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
