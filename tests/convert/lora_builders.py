"""Tiny DiTs, inputs and random LoRAs shared by the LoRA tests (not a test module)."""

import torch

from _helpers import reseed_parameters
from vitascope.convert.lora import LinearIndex, LoraPair
from vitascope.models.dit import HunyuanVideoDiT
from vitascope.specs import TINY

# The official I2V LoRA targets (spec 3.4), final layer included so the diffusers swap is exercised
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
    "self_attn_qkv",
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


def _base(seed=0):
    model = HunyuanVideoDiT(TINY)
    reseed_parameters(model, seed)
    return model.eval()


def random_lora(model, rank=3, alpha=6.0, seed=1) -> dict[str, LoraPair]:
    """A LoRA on every Linear matching TARGETS, with alpha != rank so scale handling is tested."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, (o, i) in LinearIndex.of(model).shapes.items():
        if name.rsplit(".", 1)[-1] in TARGETS or name.endswith(".linear"):
            out[name] = LoraPair(
                0.2 * torch.randn(rank, i, generator=g), 0.2 * torch.randn(o, rank, generator=g), alpha
            )
    return out
