"""One attention entry point for every model in vitascope.

Inputs are laid out token-major, `[B, L, N, K]`, because that is how the fused qkv projections come out; the
backends transpose as they need. Backends are picked explicitly; a missing one raises a clear error instead of
silently falling back, so a benchmark never measures something other than what it names.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vitascope.errors import InvalidOptionError

BACKENDS = ("sdpa", "math", "flash")


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_mask: torch.Tensor | None = None,
    pair_mask: torch.Tensor | None = None,
    backend: str = "sdpa",
) -> torch.Tensor:
    """Scaled dot-product attention with scale 1/sqrt(K).

    q, k, v: [B, L, N, K]. key_mask: [B, L] bool, True where a key may be attended to.
    pair_mask: [B, 1 or N, L, L] bool, True where query i may attend to key j (the token refiner's mask).
    Returns [B, L, N*K].
    """
    if backend not in BACKENDS:
        raise InvalidOptionError(f"attention backend must be one of {BACKENDS}, got {backend!r}")
    mask = _combine_masks(key_mask, pair_mask)
    if backend == "flash":
        out = _flash(q, k, v, key_mask, pair_mask)
    elif backend == "sdpa":
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask
        ).transpose(1, 2)
    else:
        out = _math(q, k, v, mask)
    return out.flatten(2)  # [B, L, N*K]


def _combine_masks(key_mask, pair_mask):
    mask = None
    if key_mask is not None:
        mask = key_mask[:, None, None, :].bool()  # [B, 1, 1, L]
    if pair_mask is not None:
        mask = pair_mask.bool() if mask is None else (mask & pair_mask.bool())
    return mask


def _math(q, k, v, mask):
    """The plain reference every fast path is tested against (float32 softmax)."""
    q, k, v = (x.transpose(1, 2) for x in (q, k, v))  # [B, N, L, K]
    scores = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    out = scores.softmax(dim=-1) @ v.float()
    return out.to(q.dtype).transpose(1, 2)  # [B, L, N, K]


def _flash(q, k, v, key_mask, pair_mask):
    try:
        from flash_attn import flash_attn_func
    except ImportError as e:
        raise InvalidOptionError(
            "attention backend 'flash' needs the flash-attn package (CUDA only): pip install flash-attn, "
            "or use backend 'sdpa'"
        ) from e
    if pair_mask is not None or (key_mask is not None and not bool(key_mask.all())):
        # Padded text only ever sits at the end of the sequence, so equal-length samples are the common case;
        # masked batches go through SDPA, which is exact and still fused on GPU.
        mask = _combine_masks(key_mask, pair_mask)
        return F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask
        ).transpose(1, 2)
    return flash_attn_func(q, k, v)
