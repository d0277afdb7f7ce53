"""A tiny random model folder for tests and smoke runs: loads through the normal loader, generates in ~1 s."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from vitascope.pipelines.options import ModelDefaults

TINY_DEFAULTS = ModelDefaults(
    height=32, width=32, frames=5, steps=2, flow_shift=3.0, guidance=4.0, fps=8, i2v_resolution="default"
)
TINY_TEXT = {"template": "dit-llm-encode-video", "max_length": 16, "hidden_state_skip_layer": 2}


@torch.no_grad()
def _reseed(module: torch.nn.Module, seed: int) -> None:
    """Non-trivial weights everywhere (the default init zeroes modulation, which would hide bugs)."""
    g = torch.Generator().manual_seed(seed)
    for _, p in sorted(module.state_dict(keep_vars=True).items()):
        n = torch.randn(p.shape, generator=g)
        p.copy_(
            n / math.sqrt(max(1, math.prod(p.shape[1:])))
            if p.ndim > 1
            else 1 + 0.1 * n
            if "norm" in _
            else 0.05 * n
        )


def tiny_dit_config(image_condition_type=None, text_dim: int = 32, pooled_dim: int = 32):
    from vitascope.specs import TINY

    extra = dict(in_channels=33, guidance_embed=False) if image_condition_type == "latent_concat" else {}
    return dataclasses.replace(
        TINY,
        text_states_dim=text_dim,
        text_states_dim_2=pooled_dim,
        image_condition_type=image_condition_type,
        **extra,
    )


def write_tiny_model(folder: str | Path, seed: int = 0, i2v_mode: str | None = "token_replace") -> Path:
    """vitascope layout: tiny DiT (token-replace I2V capable), tiny VAE, tiny Llama + CLIP with tokenizers."""
    from vitascope.convert.save import save_vitascope_folder
    from vitascope.models.dit import HunyuanVideoDiT
    from vitascope.models.text.tiny import write_tiny_text_encoders
    from vitascope.models.vae import CausalVAE3D, VAEConfig

    folder = Path(folder)
    write_tiny_text_encoders(folder, layout="tencent", seed=seed)
    dit = HunyuanVideoDiT(tiny_dit_config())
    _reseed(dit, seed)
    vae = CausalVAE3D(VAEConfig.tiny())
    _reseed(vae, seed + 1)
    return save_vitascope_folder(
        folder, dit, vae, name="vitascope-tiny", defaults=TINY_DEFAULTS, text=TINY_TEXT, i2v_mode=i2v_mode
    )


TINY_POSE_DEFAULTS = dataclasses.replace(
    TINY_DEFAULTS, height=64, width=64
)  # the figure analyzer needs 64 px


def write_tiny_pose_model(folder: str | Path, seed: int = 0) -> Path:
    """`write_tiny_model` with a pose DiT (pose_in, pose_proj with random, nonzero weights) at 64x64."""
    from vitascope.convert.save import save_vitascope_folder
    from vitascope.models.pose import PoseDiT
    from vitascope.models.text.tiny import write_tiny_text_encoders
    from vitascope.models.vae import CausalVAE3D, VAEConfig

    folder = Path(folder)
    write_tiny_text_encoders(folder, layout="tencent", seed=seed)
    dit = PoseDiT(tiny_dit_config("token_replace"))
    _reseed(dit, seed)
    vae = CausalVAE3D(VAEConfig.tiny())
    _reseed(vae, seed + 1)
    return save_vitascope_folder(
        folder,
        dit,
        vae,
        name="vitascope-tiny-pose",
        defaults=TINY_POSE_DEFAULTS,
        text=TINY_TEXT,
        i2v_mode="token_replace",
    )
