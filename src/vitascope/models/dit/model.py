"""HunyuanVideo's MM-DiT (`HYVideoDiffusionTransformer`), with the checkpoint's module names.

Token order everywhere: image tokens (T, H, W row-major over the post-patch grid) then text tokens.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from vitascope.models.dit.blocks import FinalLayer, MMDoubleStreamBlock, MMSingleStreamBlock
from vitascope.models.dit.config import DiTConfig
from vitascope.models.dit.refiner import SingleTokenRefiner
from vitascope.nn.embeddings import MLPEmbedder, PatchEmbed, TimestepEmbedder
from vitascope.nn.rope import rope_cos_sin


class HunyuanVideoDiT(nn.Module):
    def __init__(self, config: DiTConfig):
        super().__init__()
        self.config = c = config
        D = c.hidden_size
        self.img_in = PatchEmbed(c.patch_size, c.in_channels, D)
        self.txt_in = SingleTokenRefiner(c.text_states_dim, D, c.heads_num, c.refiner_depth, 4.0, c.qkv_bias)
        self.time_in = TimestepEmbedder(D)
        self.vector_in = MLPEmbedder(c.text_states_dim_2, D)
        self.guidance_in = TimestepEmbedder(D) if c.guidance_embed else None
        self.double_blocks = nn.ModuleList(
            MMDoubleStreamBlock(D, c.heads_num, c.mlp_hidden, c.qkv_bias)
            for _ in range(c.mm_double_blocks_depth)
        )
        self.single_blocks = nn.ModuleList(
            MMSingleStreamBlock(D, c.heads_num, c.mlp_hidden) for _ in range(c.mm_single_blocks_depth)
        )
        self.final_layer = FinalLayer(D, c.patch_size, c.out_channels)
        self.attn_backend = "sdpa"
        self.gradient_checkpointing = False

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        text_states: torch.Tensor,
        text_mask: torch.Tensor | None,
        text_states_2: torch.Tensor,
        guidance: torch.Tensor | None = None,
        token_replace: bool | None = None,
        frame_offset: int = 0,
    ) -> torch.Tensor:
        """Predict the flow velocity.

        x: [B, C_in, T, H, W] latents; t: [B] timesteps in 0..1000 (sigma * 1000); text_states: [B, S, D_txt];
        text_mask: [B, S] (1 = real token); text_states_2: [B, D_txt2] CLIP pooled; guidance: [B] embedded
        guidance already multiplied by 1000. token_replace: modulate frame-0 tokens with the t=0 vector
        (defaults to the config's image_condition_type). Returns [B, C_out, T, H, W].
        """
        c = self.config
        B, _, T, H, W = x.shape
        pt, ph, pw = c.patch_size
        if T % pt or H % ph or W % pw:
            raise ValueError(f"latent grid {(T, H, W)} must be divisible by the patch size {c.patch_size}")
        grid = (T // pt, H // ph, W // pw)
        t = t.to(x.device).expand(B) if t.ndim == 0 else t
        if token_replace is None:
            token_replace = c.image_condition_type == "token_replace"

        # 1. Conditioning vectors.
        pooled = self.vector_in(text_states_2)
        vec = self.time_in(t) + pooled  # [B, D]
        tr_vec = (
            self.time_in(torch.zeros_like(t)) + pooled if token_replace else None
        )  # no guidance, by design
        if self.guidance_in is not None:
            if guidance is None:
                raise ValueError(
                    "this model embeds guidance: pass guidance (scale * 1000), e.g. 6000 for 6.0"
                )
            vec = vec + self.guidance_in(guidance.to(x.device).expand(B))
        first = grid[1] * grid[2] if token_replace else 0  # tokens of the first latent frame

        # 2. Tokens. Right padding beyond the longest prompt is dropped rather than masked: image tokens never
        # see padding either way (the official varlen attention gives padding its own segment), but with no
        # padding left attention needs no mask, which is both less work and eligible for fused kernels.
        text_states, text_mask = trim_text_padding(text_states, text_mask)
        img = self.img_in(x)  # [B, L, D]
        txt = self.txt_in(text_states, t, text_mask, self.attn_backend)  # [B, S, D]
        L = img.shape[1]
        key_mask = None
        if text_mask is not None and not bool(text_mask.all()):
            key_mask = torch.cat(
                [torch.ones(B, L, dtype=torch.bool, device=x.device), text_mask.bool()], dim=1
            )
        rope = rope_cos_sin(grid, c.rope_dim_list, c.rope_theta, (frame_offset, 0, 0), device=x.device)

        # 3. Blocks.
        for block in self.double_blocks:
            img, txt = self._run(block, img, txt, vec, key_mask, rope, tr_vec, first, self.attn_backend)
        h = torch.cat([img, txt], dim=1)  # [B, L+S, D]
        for block in self.single_blocks:
            h = self._run(block, h, L, vec, key_mask, rope, tr_vec, first, self.attn_backend)

        # 4. Final layer on the image tokens only, then unpatchify with channels slowest: (c, pt, ph, pw).
        out = self.final_layer(h[:, :L], vec)  # [B, L, C*pt*ph*pw]
        return rearrange(
            out,
            "B (T H W) (C pt ph pw) -> B C (T pt) (H ph) (W pw)",
            T=grid[0],
            H=grid[1],
            W=grid[2],
            pt=pt,
            ph=ph,
            pw=pw,
        )

    def _run(self, block, *args):
        if self.gradient_checkpointing and torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint

            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)


def trim_text_padding(states: torch.Tensor, mask: torch.Tensor | None):
    """Cut trailing columns that are padding in every sample: [B, S, D] -> [B, S', D] (S' = longest prompt)."""
    if mask is None:
        return states, mask
    valid = mask.bool()
    n = int(valid.sum(dim=1).max())
    if n == 0 or valid[:, n:].any():  # empty prompts or left padding: keep the mask as given
        return states, mask
    return states[:, :n], mask[:, :n]
