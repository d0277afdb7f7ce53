"""The Audio Emotion Module of the HunyuanVideo-Avatar paper (absent from the release): the VAE latents of a
reference image showing the wanted expression are patch-embedded (`emotion_in`, like `ref_in`) and the video
tokens cross-attend to them after every double block (`emotion_blocks.{i}`), zero-initialised so that a model
fine-tuned from the release starts exactly where the release is.

    emotion latents [B, 16, 1, h, w] -> emotion_in -> [B, M, D]
    after double block i: video [B, L, D] += to_out(attention(q(norm(video)), kv(norm(emotion))))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class EmotionAttention(nn.Module):
    """Multi-head cross-attention without RoPE: video tokens query the emotion reference's tokens.

    The queries and keys/values are layer-normalised first (as the audio adapter does); `to_out` (weight and
    bias) starts at zero, so the block adds nothing until it is trained.
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} must divide by {heads} heads")
        self.heads = heads
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)
        self.to_out = nn.Linear(dim, dim)
        nn.init.zeros_(self.to_out.weight)
        nn.init.zeros_(self.to_out.bias)

    def forward(self, video: torch.Tensor, emotion: torch.Tensor) -> torch.Tensor:
        """video [B, L, D], emotion [B, M, D] -> [B, L, D]."""
        B, L, D = video.shape
        H = self.heads
        q = self.to_q(self.norm_q(video)).view(B, L, H, D // H).transpose(1, 2)  # [B, H, L, d]
        kv = self.to_kv(self.norm_kv(emotion)).view(B, emotion.shape[1], 2, H, D // H)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)  # [B, H, M, d] each
        out = F.scaled_dot_product_attention(q, k, v)  # [B, H, L, d]
        return self.to_out(out.transpose(1, 2).reshape(B, L, D))
