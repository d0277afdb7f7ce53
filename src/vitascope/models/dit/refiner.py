"""The text token refiner (`txt_in`): LLM states [B, S, D_txt] -> refined tokens [B, S, D]."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from vitascope.nn.attention import attention
from vitascope.nn.embeddings import MLP, TextProjection, TimestepEmbedder
from vitascope.nn.norms import layer_norm


class IndividualTokenRefinerBlock(nn.Module):
    def __init__(self, hidden: int, heads: int, mlp_ratio: float, qkv_bias: bool = True):
        super().__init__()
        self.heads = heads
        self.norm1 = layer_norm(hidden, affine=True)
        self.self_attn_qkv = nn.Linear(hidden, 3 * hidden, bias=qkv_bias)
        self.self_attn_proj = nn.Linear(hidden, hidden, bias=qkv_bias)
        self.norm2 = layer_norm(hidden, affine=True)
        self.mlp = MLP(hidden, int(hidden * mlp_ratio), act="silu", bias=True)
        # Gate-only adaLN: no shift or scale here, unlike the main blocks.
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))
        nn.init.zeros_(self.adaLN_modulation[1].weight)
        nn.init.zeros_(self.adaLN_modulation[1].bias)

    def forward(self, x, c, pair_mask, backend: str = "sdpa"):
        gate_msa, gate_mlp = self.adaLN_modulation(c).chunk(2, dim=-1)  # [B, D] each
        q, k, v = rearrange(
            self.self_attn_qkv(self.norm1(x)), "B S (three N K) -> three B S N K", three=3, N=self.heads
        )
        x = (
            x
            + self.self_attn_proj(attention(q, k, v, pair_mask=pair_mask, backend=backend))
            * gate_msa[:, None]
        )
        return x + self.mlp(self.norm2(x)) * gate_mlp[:, None]


class IndividualTokenRefiner(nn.Module):
    def __init__(self, hidden, heads, depth, mlp_ratio, qkv_bias=True):
        super().__init__()
        self.blocks = nn.ModuleList(
            IndividualTokenRefinerBlock(hidden, heads, mlp_ratio, qkv_bias) for _ in range(depth)
        )

    def forward(self, x, c, mask, backend: str = "sdpa"):
        pair = None
        if mask is not None:
            m = mask.bool()
            pair = (m[:, None, :, None] & m[:, None, None, :]).clone()  # [B, 1, S, S] valid x valid
            pair[:, :, :, 0] = True  # keeps fully padded rows from a softmax over nothing (NaN)
        for block in self.blocks:
            x = block(x, c, pair, backend)
        return x


class SingleTokenRefiner(nn.Module):
    def __init__(
        self, in_dim: int, hidden: int, heads: int, depth: int = 2, mlp_ratio: float = 4.0, qkv_bias=True
    ):
        super().__init__()
        self.input_embedder = nn.Linear(in_dim, hidden)
        self.t_embedder = TimestepEmbedder(hidden)
        self.c_embedder = TextProjection(in_dim, hidden)
        self.individual_token_refiner = IndividualTokenRefiner(hidden, heads, depth, mlp_ratio, qkv_bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, mask: torch.Tensor | None, backend: str = "sdpa"):
        """x: [B, S, D_txt] raw LLM states; t: [B] in 0..1000; mask: [B, S]. Returns [B, S, D]."""
        if mask is None:
            pooled = x.mean(dim=1)
        else:  # masked mean of the raw states, not of the projected ones
            m = mask.float()[..., None]
            pooled = ((x.float() * m).sum(dim=1) / m.sum(dim=1)).to(x.dtype)
        c = self.t_embedder(t) + self.c_embedder(pooled)  # [B, D]
        return self.individual_token_refiner(self.input_embedder(x), c, mask, backend)
