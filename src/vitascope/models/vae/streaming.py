"""Streaming decode: latent frames in chunks, pixel frames out in chunks, memory flat in the video length.

Every decoder conv is causal in time, so a chunk only needs the last k_t - 1 input frames of each conv from the
chunk before (cached here), and the upsamplers only treat the very first frame of the video specially. Two
things in the official VAE are NOT causal, and this module handles them explicitly:

1. GroupNorm statistics span all frames of the clip (per sample and group). We gather them across chunks with
   Chan's parallel mean/variance merge in float64. Norm n's input depends on the statistics of norms < n only,
   so `exact=True` resolves the norms one at a time: pass n runs every chunk up to norm n (using the exact
   statistics already found for norms < n), stops there, and records norm n's whole-clip statistics; a last
   pass yields the output. The result equals the plain decode to float rounding, at the cost of about
   (number of norms) / 2 decodes of compute (docs/vae.md has the measured figures).
   `exact=False` is one strictly causal pass: each chunk is normalised with the statistics of all frames seen
   so far. It is fast and never looks ahead, but differs from the plain decode.
2. The mid-block attention sees all earlier frames, so its keys/values are cached at latent resolution
   ([B, T*h*w, C]); this cache grows with the video, by 1/64 of one full-resolution activation per latent
   frame in the 884 layout.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitascope.errors import InvalidOptionError
from vitascope.models.vae.layers import (
    CausalConv3d,
    MidAttention,
    MidBlock3D,
    ResnetBlock3D,
    frame_causal_attention,
)

if TYPE_CHECKING:
    from vitascope.models.vae.model import CausalVAE3D


class _StreamState:
    """What one pass carries from chunk to chunk."""

    def __init__(self, resolved: dict, exact: bool):
        self.resolved = resolved  # norm -> whole-clip (mean, var) [B, G] float64, found by earlier passes
        self.exact = exact  # stop each chunk at the first unresolved norm (a statistics pass)
        self.moments: dict[nn.GroupNorm, list[torch.Tensor]] = {}  # running [count, mean, M2], float64 [B, G]
        self.history: dict[CausalConv3d, torch.Tensor] = {}  # last k_t - 1 input frames per conv
        self.kv: dict[MidAttention, tuple[torch.Tensor, torch.Tensor]] = {}  # [B, L_past, C] each
        self.starts_video = True


class _ChunkStopped(Exception):
    """A statistics pass reached the norm it is resolving; the rest of the chunk is not needed."""


def decode_streaming(
    vae: CausalVAE3D, z: torch.Tensor, chunk_latent_frames: int = 4, exact: bool = True
) -> Iterator[torch.Tensor]:
    """Yield video chunks [B, 3, f, H, W] for unscaled latents z [B, 16, T, h, w].

    The first chunk holds 4 * (chunk_latent_frames - 1) + 1 frames, later ones 4 * chunk_latent_frames; their
    concatenation has the shape of `vae.decode(z)`. With `exact=True` all statistics passes run before the
    first chunk is yielded.
    """
    if chunk_latent_frames < 1:
        raise InvalidOptionError(f"chunk_latent_frames must be >= 1, got {chunk_latent_frames}")
    return _passes(vae, z.split(chunk_latent_frames, dim=2), exact)


def _passes(vae, chunks, exact: bool) -> Iterator[torch.Tensor]:
    resolved: dict[nn.GroupNorm, tuple[torch.Tensor, torch.Tensor]] = {}
    n_norms = sum(isinstance(m, nn.GroupNorm) for m in vae.decoder.modules())
    while exact and len(resolved) < n_norms:
        state = _StreamState(resolved, exact=True)
        for chunk in chunks:
            try:
                _decode_chunk(vae, state, chunk, with_output=False)
            except _ChunkStopped:
                state.starts_video = False
        ((norm, (count, mean, m2)),) = state.moments.items()
        resolved[norm] = (mean, m2 / count)
    state = _StreamState(resolved, exact=False)
    for chunk in chunks:
        yield _decode_chunk(vae, state, chunk, with_output=True)


def _decode_chunk(vae, state: _StreamState, z: torch.Tensor, with_output: bool) -> torch.Tensor | None:
    # grad mode is set per chunk, never across a yield, so the caller's mode is left alone
    with torch.no_grad():
        dec = vae.decoder
        x = _conv(state, dec.conv_in, vae.post_quant_conv(z))
        x = _mid_block(state, dec.mid_block, x)
        for block in dec.up_blocks:
            for resnet in block.resnets:
                x = _resnet(state, resnet, x)
            if block.upsamplers is not None:
                up = block.upsamplers[0]
                x = _conv(state, up.conv, up.upsample(x, starts_video=state.starts_video))
        x = F.silu(_group_norm(state, dec.conv_norm_out, x))
        out = _conv(state, dec.conv_out, x) if with_output else None
    state.starts_video = False
    return out


def _conv(state: _StreamState, conv: CausalConv3d, x: torch.Tensor) -> torch.Tensor:
    k = conv.time_context
    if k == 0:
        return conv(x)
    history = state.history.get(conv)
    tail = x if x.shape[2] >= k else torch.cat([_history_or_replicate(history, x, k), x], dim=2)
    state.history[conv] = tail[:, :, -k:].clone()  # clone: a view would keep the whole chunk alive
    return conv(x, history=history)


def _history_or_replicate(history, x, k):
    return history if history is not None else x[:, :, :1].expand(-1, -1, k, -1, -1)


def _group_norm(state: _StreamState, norm: nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
    b, c = x.shape[:2]
    xg = x.reshape(b, norm.num_groups, -1).float()  # [B, G, N]
    if norm in state.resolved:
        mean, var = state.resolved[norm]
    else:
        chunk_var, chunk_mean = torch.var_mean(xg, dim=2, correction=0)
        _merge_moments(state, norm, xg.shape[2], chunk_mean.double(), chunk_var.double())
        if state.exact:
            raise _ChunkStopped
        count, mean, m2 = state.moments[norm]  # strictly causal: every frame so far, this chunk included
        var = m2 / count
    y = (xg - mean.float()[..., None]) * torch.rsqrt(var.float() + norm.eps)[..., None]
    y = y.to(x.dtype).reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    return y * norm.weight.view(shape) + norm.bias.view(shape)


def _merge_moments(state, norm, n: int, mean: torch.Tensor, var: torch.Tensor) -> None:
    """Chan et al.'s pairwise update of (count, mean, M2) with a chunk's own count, mean and variance."""
    if norm not in state.moments:
        state.moments[norm] = [torch.full_like(mean, float(n)), mean, var * n]
        return
    count, run_mean, m2 = state.moments[norm]
    total = count + n
    delta = mean - run_mean
    state.moments[norm] = [
        total,
        run_mean + delta * (n / total),
        m2 + var * n + delta**2 * (count * n / total),
    ]


def _resnet(state: _StreamState, block: ResnetBlock3D, x: torch.Tensor) -> torch.Tensor:
    h = _conv(state, block.conv1, F.silu(_group_norm(state, block.norm1, x)))
    h = _conv(state, block.conv2, F.silu(_group_norm(state, block.norm2, h)))
    if block.conv_shortcut is not None:
        x = _conv(state, block.conv_shortcut, x)
    return x + h


def _mid_block(state: _StreamState, block: MidBlock3D, x: torch.Tensor) -> torch.Tensor:
    x = _resnet(state, block.resnets[0], x)
    for attn in block.attentions:
        x = _attention(state, attn, x)
    return _resnet(state, block.resnets[1], x)


def _attention(state: _StreamState, attn: MidAttention, x: torch.Tensor) -> torch.Tensor:
    b, c, t, h, w = x.shape
    tokens = _group_norm(state, attn.group_norm, x).flatten(2).transpose(1, 2)  # [B, t*h*w, C]
    q, k, v = attn.to_q(tokens), attn.to_k(tokens), attn.to_v(tokens)
    past = state.kv.get(attn)
    past_frames = 0
    if past is not None:
        past_frames = past[0].shape[1] // (h * w)
        k, v = torch.cat([past[0], k], dim=1), torch.cat([past[1], v], dim=1)
    state.kv[attn] = (k, v)
    out = frame_causal_attention(q, k, v, h * w, past_frames)
    return x + attn.to_out[0](out).transpose(1, 2).reshape(b, c, t, h, w)
