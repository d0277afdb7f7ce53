"""Tencent <-> diffusers key layout for the HunyuanVideo transformer.

Width-agnostic: split sizes come from the tensors themselves (diffusers' own single-file converter assumes a
3072-wide model). One table serves both directions.
"""

from __future__ import annotations

import functools
import re

import torch

from vitascope.errors import InvalidOptionError, WeightLoadError
from vitascope.models.dit.config import DiTConfig

# 1:1 renames, Tencent template -> diffusers template; {n} is a block index.
RENAMES = [
    ("img_in.proj", "x_embedder.proj"),
    ("time_in.mlp.0", "time_text_embed.timestep_embedder.linear_1"),
    ("time_in.mlp.2", "time_text_embed.timestep_embedder.linear_2"),
    ("guidance_in.mlp.0", "time_text_embed.guidance_embedder.linear_1"),
    ("guidance_in.mlp.2", "time_text_embed.guidance_embedder.linear_2"),
    ("vector_in.in_layer", "time_text_embed.text_embedder.linear_1"),
    ("vector_in.out_layer", "time_text_embed.text_embedder.linear_2"),
    ("txt_in.input_embedder", "context_embedder.proj_in"),
    ("txt_in.t_embedder.mlp.0", "context_embedder.time_text_embed.timestep_embedder.linear_1"),
    ("txt_in.t_embedder.mlp.2", "context_embedder.time_text_embed.timestep_embedder.linear_2"),
    ("txt_in.c_embedder.linear_1", "context_embedder.time_text_embed.text_embedder.linear_1"),
    ("txt_in.c_embedder.linear_2", "context_embedder.time_text_embed.text_embedder.linear_2"),
    ("final_layer.linear", "proj_out"),
]
_REF = ("txt_in.individual_token_refiner.blocks.{n}.", "context_embedder.token_refiner.refiner_blocks.{n}.")
for a, b in [
    ("norm1", "norm1"),
    ("norm2", "norm2"),
    ("self_attn_proj", "attn.to_out.0"),
    ("mlp.fc1", "ff.net.0.proj"),
    ("mlp.fc2", "ff.net.2"),
    ("adaLN_modulation.1", "norm_out.linear"),
]:
    RENAMES.append((_REF[0] + a, _REF[1] + b))
_DB = ("double_blocks.{n}.", "transformer_blocks.{n}.")
for a, b in [
    ("img_mod.linear", "norm1.linear"),
    ("txt_mod.linear", "norm1_context.linear"),
    ("img_attn_q_norm", "attn.norm_q"),
    ("img_attn_k_norm", "attn.norm_k"),
    ("txt_attn_q_norm", "attn.norm_added_q"),
    ("txt_attn_k_norm", "attn.norm_added_k"),
    ("img_attn_proj", "attn.to_out.0"),
    ("txt_attn_proj", "attn.to_add_out"),
    ("img_mlp.fc1", "ff.net.0.proj"),
    ("img_mlp.fc2", "ff.net.2"),
    ("txt_mlp.fc1", "ff_context.net.0.proj"),
    ("txt_mlp.fc2", "ff_context.net.2"),
]:
    RENAMES.append((_DB[0] + a, _DB[1] + b))
_SB = ("single_blocks.{n}.", "single_transformer_blocks.{n}.")
for a, b in [
    ("linear2", "proj_out"),
    ("q_norm", "attn.norm_q"),
    ("k_norm", "attn.norm_k"),
    ("modulation.linear", "norm.linear"),
]:
    RENAMES.append((_SB[0] + a, _SB[1] + b))

# Fused Tencent tensors split along dim 0 into several diffusers tensors. "thirds" = equal q/k/v split;
# "linear1" = [q, k, v, mlp] with q/k/v the width of the block (read off the weight's input dim).
FUSED = [
    (_REF[0] + "self_attn_qkv", [_REF[1] + f"attn.to_{x}" for x in "qkv"], "thirds"),
    (_DB[0] + "img_attn_qkv", [_DB[1] + f"attn.to_{x}" for x in "qkv"], "thirds"),
    (_DB[0] + "txt_attn_qkv", [_DB[1] + f"attn.add_{x}_proj" for x in "qkv"], "thirds"),
    (_SB[0] + "linear1", [_SB[1] + f"attn.to_{x}" for x in "qkv"] + [_SB[1] + "proj_mlp"], "linear1"),
]
# (shift, scale) in Tencent's final layer, (scale, shift) in diffusers'.
SWAPPED = [("final_layer.adaLN_modulation.1", "norm_out.linear")]


@functools.cache
def _regex(template: str) -> re.Pattern:
    return re.compile("^" + re.escape(template).replace(r"\{n\}", r"(?P<n>\d+)") + r"\.(?P<p>weight|bias)$")


def _fill(template: str, n: str | None) -> str:
    return template.replace("{n}", n or "")


def _swap_halves(t: torch.Tensor) -> torch.Tensor:
    a, b = t.chunk(2, dim=0)
    return torch.cat([b, a], dim=0)


def tencent_to_diffusers(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename and split a Tencent transformer state dict into diffusers' layout. Unknown keys raise."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        for src, dst in RENAMES:
            if m := _regex(src).match(key):
                out[f"{_fill(dst, m.groupdict().get('n'))}.{m['p']}"] = value
                break
        else:
            for src, dsts, kind in FUSED:
                if m := _regex(src).match(key):
                    n = m.groupdict().get("n")
                    if kind == "thirds":
                        parts = value.chunk(3, dim=0)
                    else:
                        width = sd[key.rsplit(".", 1)[0] + ".weight"].shape[1]
                        parts = value.split([width, width, width, value.shape[0] - 3 * width], dim=0)
                    for d, part in zip(dsts, parts, strict=True):
                        out[f"{_fill(d, n)}.{m['p']}"] = part
                    break
            else:
                for src, dst in SWAPPED:
                    if m := _regex(src).match(key):
                        out[f"{dst}.{m['p']}"] = _swap_halves(value)
                        break
                else:
                    raise WeightLoadError(
                        f"no diffusers name for Tencent key {key!r}: the diffusers layout has no place for it "
                        "(a variant such as the Avatar's extra modules); keep this model in the tencent or "
                        "vitascope layout"
                    )
    return out


def diffusers_to_tencent(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of `tencent_to_diffusers`: rename and fuse. Unknown keys raise."""
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for src, dsts, _ in FUSED:  # fuse first, so the parts are consumed before renaming
        first = _regex(dsts[0])
        for key in sd:
            if m := first.match(key):
                n, p = m.groupdict().get("n"), m["p"]
                names = [f"{_fill(d, n)}.{p}" for d in dsts]
                out[f"{_fill(src, n)}.{p}"] = torch.cat([sd[x] for x in names], dim=0)
                used.update(names)
    for key, value in sd.items():
        if key in used:
            continue
        for src, dst in RENAMES:
            if m := _regex(dst).match(key):
                out[f"{_fill(src, m.groupdict().get('n'))}.{m['p']}"] = value
                break
        else:
            for src, dst in SWAPPED:
                if m := _regex(dst).match(key):
                    out[f"{src}.{m['p']}"] = _swap_halves(value)
                    break
            else:
                raise WeightLoadError(
                    f"no Tencent name for diffusers key {key!r}: this is not a HunyuanVideo transformer that "
                    "vitascope knows (check the folder with `vitascope inspect`)"
                )
    return out


def config_from_diffusers(cfg: dict) -> DiTConfig:
    """DiTConfig from a diffusers `transformer/config.json` dict."""
    heads, head_dim = cfg.get("num_attention_heads", 24), cfg.get("attention_head_dim", 128)
    p, pt = cfg.get("patch_size", 2), cfg.get("patch_size_t", 1)
    return DiTConfig(
        in_channels=cfg.get("in_channels", 16),
        out_channels=cfg.get("out_channels", 16),
        hidden_size=heads * head_dim,
        heads_num=heads,
        mlp_width_ratio=cfg.get("mlp_ratio", 4.0),
        mm_double_blocks_depth=cfg.get("num_layers", 20),
        mm_single_blocks_depth=cfg.get("num_single_layers", 40),
        rope_dim_list=tuple(cfg.get("rope_axes_dim", (16, 56, 56))),
        rope_theta=cfg.get("rope_theta", 256.0),
        patch_size=(pt, p, p),
        guidance_embed=cfg.get("guidance_embeds", True),
        text_states_dim=cfg.get("text_embed_dim", 4096),
        text_states_dim_2=cfg.get("pooled_projection_dim", 768),
        refiner_depth=cfg.get("num_refiner_layers", 2),
        image_condition_type=cfg.get("image_condition_type"),
    )


def config_to_diffusers(c: DiTConfig) -> dict:
    if c.patch_size[1] != c.patch_size[2]:
        raise InvalidOptionError(
            f"diffusers' HunyuanVideo transformer needs a square spatial patch, this one is {c.patch_size}; "
            "convert to the vitascope or tencent layout instead"
        )
    return {
        "_class_name": "HunyuanVideoTransformer3DModel",
        "in_channels": c.in_channels,
        "out_channels": c.out_channels,
        "num_attention_heads": c.heads_num,
        "attention_head_dim": c.head_dim,
        "num_layers": c.mm_double_blocks_depth,
        "num_single_layers": c.mm_single_blocks_depth,
        "num_refiner_layers": c.refiner_depth,
        "mlp_ratio": c.mlp_width_ratio,
        "patch_size": c.patch_size[1],
        "patch_size_t": c.patch_size[0],
        "qk_norm": "rms_norm",
        "guidance_embeds": c.guidance_embed,
        "text_embed_dim": c.text_states_dim,
        "pooled_projection_dim": c.text_states_dim_2,
        "rope_theta": c.rope_theta,
        "rope_axes_dim": list(c.rope_dim_list),
        "image_condition_type": c.image_condition_type,
    }
