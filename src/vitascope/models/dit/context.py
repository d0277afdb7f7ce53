"""What flows through the DiT's stages: its inputs (`DiTInputs`) and the per-call state (`Context`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class DiTInputs:
    """Everything but the latents and timestep. Built once per prompt, reused at every step.

    text_padded: whether any text position is padding. None = unknown (a key mask is built from text_mask);
    False = every position is real (no key mask, so fused attention kernels apply). `trim_text_padding`
    decides it once, outside the step loop.
    extra: a variant's inputs by name (audio features, reference latents, face masks, pose latents...).
    """

    text_states: torch.Tensor  # [B, S, D_txt]
    text_mask: torch.Tensor | None  # [B, S], 1 = real token
    text_states_2: torch.Tensor  # [B, D_txt2] CLIP pooled
    guidance: torch.Tensor | None = None  # [B], scale * 1000
    token_replace: bool | None = None
    frame_offset: int = 0
    text_padded: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """Per-call state the blocks read and the hooks may change.

    img holds [prefix tokens; image tokens] and rope the matching rows; n_prefix prefix tokens are dropped by
    the head. n_img is set when the single blocks start (the image part of the joint sequence).
    """

    inputs: DiTInputs
    grid: tuple[int, int, int]  # post-patch (T, H, W)
    t: torch.Tensor  # [B]
    vec: torch.Tensor  # [B, D]
    tr_vec: torch.Tensor | None  # [B, D], the token-replace vector
    first: int  # image tokens modulated by tr_vec (the clean first latent frame)
    img: torch.Tensor  # [B, L, D]
    txt: torch.Tensor  # [B, S, D]
    rope: tuple[torch.Tensor, torch.Tensor]  # cos, sin [L, K]
    attn: Any  # the attention backend callable
    key_mask: torch.Tensor | None = None  # [B, L+S]
    n_prefix: int = 0
    n_img: int = 0
    extras: dict[str, Any] = field(default_factory=dict)  # scratch space for hooks (e.g. a cache)

    def prepend(self, tokens: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> None:
        """Put tokens [B, P, D] with their own RoPE rows [P, K] before the image tokens."""
        if self.first:
            raise ValueError("prepended tokens cannot be combined with I2V token replace")
        self.img = torch.cat([tokens, self.img], dim=1)
        self.rope = (torch.cat([rope[0], self.rope[0]]), torch.cat([rope[1], self.rope[1]]))
        self.n_prefix += tokens.shape[1]


def trim_text_padding(states: torch.Tensor, mask: torch.Tensor | None):
    """Cut trailing columns that are padding in every sample: [B, S, D] -> [B, S', D] (S' = longest prompt).

    Returns (states, mask, padded) where padded says whether any padding is left. Reads the mask on the host:
    call it once per prompt, not inside a step.
    """
    if mask is None:
        return states, mask, False
    valid = mask.bool()
    n = int(valid.sum(dim=1).max())
    if n == 0 or valid[:, n:].any():  # empty prompts or left padding: keep the mask as given
        return states, mask, True
    states, mask = states[:, :n], mask[:, :n]
    return states, mask, not bool(valid[:, :n].all())
