"""Tencent's release layout: the DiT config is not shipped, so it is read off the weights' shapes."""

from __future__ import annotations

import re

import torch

from vitascope.errors import ModelFolderError, WeightLoadError
from vitascope.models.dit.config import DiTConfig

# The released models all use head dim 128 split (16, 56, 56) over (t, h, w).
OFFICIAL_ROPE = {128: (16, 56, 56)}


def infer_dit_config(
    sd: dict[str, torch.Tensor], i2v: bool = False, overrides: dict | None = None
) -> DiTConfig:
    """DiTConfig from a Tencent-named state dict; `overrides` (e.g. a config.json) wins over inference."""
    overrides = dict(overrides or {})
    needed = [
        "img_in.proj.weight",
        "final_layer.linear.weight",
        "txt_in.input_embedder.weight",
        "vector_in.in_layer.weight",
    ]
    absent = [k for k in needed if k not in sd]
    if absent or not any(k.startswith(("double_blocks.0.", "single_blocks.0.")) for k in sd):
        raise WeightLoadError(
            f"these weights are not a HunyuanVideo DiT in Tencent's names: {', '.join(absent) or 'no blocks'} "
            "missing (`vitascope inspect` lists what the file holds)"
        )
    w = sd["img_in.proj.weight"]  # [D, C_in, pt, ph, pw]
    hidden, in_ch = w.shape[0], w.shape[1]
    head_dim = (
        sd["double_blocks.0.img_attn_q_norm.weight"].shape[0]
        if "double_blocks.0.img_attn_q_norm.weight" in sd
        else sd["single_blocks.0.q_norm.weight"].shape[0]
    )
    count = lambda pat: len({m.group(1) for k in sd if (m := re.match(pat, k))})  # noqa: E731
    out_ch = sd["final_layer.linear.weight"].shape[0] // (w.shape[2] * w.shape[3] * w.shape[4])
    if in_ch == 2 * out_ch + 1:
        cond = "latent_concat"
    elif i2v:
        cond = "token_replace"
    else:
        cond = None
    fields = dict(
        in_channels=in_ch,
        out_channels=out_ch,
        hidden_size=hidden,
        heads_num=hidden // head_dim,
        mlp_width_ratio=sd["double_blocks.0.img_mlp.fc1.weight"].shape[0] / hidden
        if "double_blocks.0.img_mlp.fc1.weight" in sd
        else (sd["single_blocks.0.linear1.weight"].shape[0] - 3 * hidden) / hidden,
        mm_double_blocks_depth=count(r"double_blocks\.(\d+)\."),
        mm_single_blocks_depth=count(r"single_blocks\.(\d+)\."),
        patch_size=tuple(w.shape[2:]),
        qkv_bias="double_blocks.0.img_attn_qkv.bias" in sd
        if "double_blocks.0.img_attn_qkv.weight" in sd
        else True,
        guidance_embed="guidance_in.mlp.0.weight" in sd,
        text_states_dim=sd["txt_in.input_embedder.weight"].shape[1],
        text_states_dim_2=sd["vector_in.in_layer.weight"].shape[1],
        refiner_depth=count(r"txt_in\.individual_token_refiner\.blocks\.(\d+)\."),
        image_condition_type=cond,
    )
    if "rope_dim_list" not in overrides:
        if head_dim not in OFFICIAL_ROPE:
            raise ModelFolderError(
                f"head dim {head_dim} is not a released model's; put a config.json with rope_dim_list next to "
                f"the weights"
            )
        fields["rope_dim_list"] = OFFICIAL_ROPE[head_dim]
    fields.update(overrides)
    return DiTConfig.from_dict(fields)
