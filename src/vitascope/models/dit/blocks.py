"""Double-stream and single-stream MM-DiT blocks.

Each reads what it needs from the DiT's `Context`: `vec`, the RoPE tables, the key mask, the attention backend,
and the I2V token-replace variant: `tr_vec` is the second modulation vector (t=0, no guidance) that applies to
the first `first` image tokens, i.e. the clean first latent frame. With `tr_vec` None every token uses `vec`.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from vitascope.nn.attention import attention
from vitascope.nn.embeddings import MLP
from vitascope.nn.modulation import ModulateDiT, split_gate, split_modulate
from vitascope.nn.norms import RMSNorm, layer_norm
from vitascope.nn.rope import apply_rope


def _maybe(mod: ModulateDiT, tr_vec):
    return None if tr_vec is None else mod(tr_vec)


class MMDoubleStreamBlock(nn.Module):
    def __init__(self, hidden: int, heads: int, mlp_hidden: int, qkv_bias: bool = True):
        super().__init__()
        self.heads = heads
        head_dim = hidden // heads
        for s in ("img", "txt"):  # separate weights per stream, named as in the checkpoint
            setattr(self, f"{s}_mod", ModulateDiT(hidden, 6))
            setattr(self, f"{s}_norm1", layer_norm(hidden))
            setattr(self, f"{s}_attn_qkv", nn.Linear(hidden, 3 * hidden, bias=qkv_bias))
            setattr(self, f"{s}_attn_q_norm", RMSNorm(head_dim))
            setattr(self, f"{s}_attn_k_norm", RMSNorm(head_dim))
            setattr(self, f"{s}_attn_proj", nn.Linear(hidden, hidden, bias=qkv_bias))
            setattr(self, f"{s}_norm2", layer_norm(hidden))
            setattr(self, f"{s}_mlp", MLP(hidden, mlp_hidden, bias=qkv_bias))

    def _qkv(self, s: str, x):
        q, k, v = rearrange(
            getattr(self, f"{s}_attn_qkv")(x), "B L (three N K) -> three B L N K", three=3, N=self.heads
        )
        return getattr(self, f"{s}_attn_q_norm")(q).to(v), getattr(self, f"{s}_attn_k_norm")(k).to(v), v

    def forward(self, img, txt, ctx):
        """img [B, L, D], txt [B, S, D]; ctx: vec [B, D], key_mask [B, L+S] or None, rope (cos, sin) [L, K]."""
        vec, tr_vec, first, rope = ctx.vec, ctx.tr_vec, ctx.first, ctx.rope
        i1, i2 = (
            self.img_mod(vec),
            _maybe(self.img_mod, tr_vec),
        )  # (shift1, scale1, gate1, shift2, scale2, gate2)
        t1 = self.txt_mod(vec)
        L = img.shape[1]

        iq, ik, iv = self._qkv("img", split_modulate(self.img_norm1(img), first, i1[0:2], i2 and i2[0:2]))
        iq, ik = apply_rope(iq, *rope), apply_rope(ik, *rope)  # after QK norm, image tokens only
        tq, tk, tv = self._qkv("txt", split_modulate(self.txt_norm1(txt), 0, t1[0:2], None))
        out = attention(  # matches the official ordering: img before txt
            torch.cat([iq, tq], 1),
            torch.cat([ik, tk], 1),
            torch.cat([iv, tv], 1),
            key_mask=ctx.key_mask,
            backend=ctx.attn,
        )
        img_attn, txt_attn = out[:, :L], out[:, L:]

        img = img + split_gate(self.img_attn_proj(img_attn), first, i1[2], i2 and i2[2])
        h = split_modulate(self.img_norm2(img), first, i1[3:5], i2 and i2[3:5])
        img = img + split_gate(self.img_mlp(h), first, i1[5], i2 and i2[5])

        txt = txt + split_gate(self.txt_attn_proj(txt_attn), 0, t1[2], None)
        txt = txt + split_gate(
            self.txt_mlp(split_modulate(self.txt_norm2(txt), 0, t1[3:5], None)), 0, t1[5], None
        )
        return img, txt


class MMSingleStreamBlock(nn.Module):
    """Parallel attention + MLP over the joint [img; txt] sequence (text at the end)."""

    def __init__(self, hidden: int, heads: int, mlp_hidden: int):
        super().__init__()
        self.heads, self.hidden, self.mlp_hidden = heads, hidden, mlp_hidden
        head_dim = hidden // heads
        self.linear1 = nn.Linear(hidden, 3 * hidden + mlp_hidden)  # rows [q, k, v, mlp_in]
        self.linear2 = nn.Linear(hidden + mlp_hidden, hidden)  # input [attn_out, gelu(mlp_in)]
        self.q_norm = RMSNorm(head_dim)
        self.k_norm = RMSNorm(head_dim)
        self.pre_norm = layer_norm(hidden)
        self.mlp_act = nn.GELU(approximate="tanh")
        self.modulation = ModulateDiT(hidden, 3)

    def forward(self, x, ctx):
        """x [B, L+S, D] with the first L = ctx.n_img tokens the image; returns the same shape."""
        L, vec, tr_vec, first, rope = ctx.n_img, ctx.vec, ctx.tr_vec, ctx.first, ctx.rope
        m1, m2 = self.modulation(vec), _maybe(self.modulation, tr_vec)  # (shift, scale, gate)
        h = split_modulate(self.pre_norm(x), first, m1[0:2], m2 and m2[0:2])
        qkv, mlp_in = self.linear1(h).split([3 * self.hidden, self.mlp_hidden], dim=-1)
        q, k, v = rearrange(qkv, "B L (three N K) -> three B L N K", three=3, N=self.heads)
        q, k = self.q_norm(q).to(v), self.k_norm(k).to(v)
        q = torch.cat([apply_rope(q[:, :L], *rope), q[:, L:]], dim=1)
        k = torch.cat([apply_rope(k[:, :L], *rope), k[:, L:]], dim=1)
        attn = attention(q, k, v, key_mask=ctx.key_mask, backend=ctx.attn)  # [B, L+S, D]
        out = self.linear2(torch.cat([attn, self.mlp_act(mlp_in)], dim=-1))
        return x + split_gate(out, first, m1[2], m2 and m2[2])


class FinalLayer(nn.Module):
    def __init__(self, hidden: int, patch_size: tuple[int, int, int], out_channels: int):
        super().__init__()
        self.norm_final = layer_norm(hidden)
        self.linear = nn.Linear(hidden, out_channels * patch_size[0] * patch_size[1] * patch_size[2])
        # (shift, scale) here; diffusers stores (scale, shift) and convert/ swaps the halves.
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))
        for p in (self.linear.weight, self.linear.bias, *self.adaLN_modulation[1].parameters()):
            nn.init.zeros_(p)

    def forward(self, x, vec):
        shift, scale = self.adaLN_modulation(vec).chunk(2, dim=-1)
        return self.linear(self.norm_final(x) * (1 + scale[:, None]) + shift[:, None])
