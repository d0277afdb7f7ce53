"""Building blocks of the causal 3D VAE.

Attribute names follow the official checkpoint (`conv.conv`, `resnets.N`, `attentions.0.to_q`, ...), which are
also diffusers' names, so both load with an identity map. Tensors are [B, C, T, H, W] unless a comment says
otherwise; T counts frames at the block's own rate.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitascope.nn.attention import attention


class CausalConv3d(nn.Module):
    """Conv3d that sees only the current and earlier frames.

    The official padding: replicate the first frame k_t - 1 times in front (nothing behind) and replicate the
    borders by k // 2 in space; the wrapped Conv3d itself pads nothing.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride=1):
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size, stride, padding=0)
        self.time_context = kernel_size - 1  # earlier frames each output frame needs
        k = kernel_size // 2
        self.spatial_pad = (k, k, k, k)

    def forward(self, x: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        """`history` ([B, C, time_context, H, W]): the frames before `x` when decoding chunk by chunk.

        Without it `x` starts the video and its first frame is replicated, as in the official model.
        """
        if self.time_context:
            if history is None:
                history = x[:, :, :1].expand(-1, -1, self.time_context, -1, -1)
            x = torch.cat([history, x], dim=2)
        # replicate padding is separable, so padding time by concatenation then space here equals the
        # official single F.pad(..., mode="replicate") over all three axes
        x = F.pad(x, (*self.spatial_pad, 0, 0), mode="replicate")
        return self.conv(x)


class ResnetBlock3D(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, groups: int, eps: float = 1e-6):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps)
        self.conv1 = CausalConv3d(in_channels, out_channels, 3)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps)
        self.conv2 = CausalConv3d(out_channels, out_channels, 3)
        self.conv_shortcut = (
            CausalConv3d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return x + h


class Downsample3D(nn.Module):
    """Causal kernel-3 conv with stride (t, 2, 2): T -> (T - 1) // t + 1 frames."""

    def __init__(self, channels: int, stride: tuple[int, int, int]):
        super().__init__()
        self.conv = CausalConv3d(channels, channels, 3, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample3D(nn.Module):
    """Nearest upsampling then a causal conv; the first frame of the video is only upsampled in space.

    So T -> t * (T - 1) + 1 frames, the inverse of the encoder's causal downsampling.
    """

    def __init__(self, channels: int, factor: tuple[int, int, int]):
        super().__init__()
        self.factor = factor
        self.conv = CausalConv3d(channels, channels, 3)

    def upsample(self, x: torch.Tensor, starts_video: bool = True) -> torch.Tensor:
        if not starts_video:  # a later chunk: every frame is an "other" frame
            return F.interpolate(x.contiguous(), scale_factor=self.factor, mode="nearest")
        first = F.interpolate(x[:, :, 0], scale_factor=self.factor[1:], mode="nearest")[:, :, None]
        if x.shape[2] == 1:
            return first
        rest = F.interpolate(x[:, :, 1:].contiguous(), scale_factor=self.factor, mode="nearest")
        return torch.cat([first, rest], dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.upsample(x))


def frame_causal_attention(q, k, v, tokens_per_frame: int, past_frames: int = 0) -> torch.Tensor:
    """Single-head attention where a token sees its own frame and every earlier frame.

    q: [B, Lq, D] for Tq frames; k, v: [B, Lk, D] for past_frames + Tq frames. Returns [B, Lq, D].
    Runs one query frame at a time with no mask: the same result as the official (L x L) frame-causal mask,
    without materialising that mask and with fused SDPA kernels available.
    """
    n = tokens_per_frame
    q, k, v = q[:, :, None], k[:, :, None], v[:, :, None]  # [B, L, 1, D]: one head of full width
    out = []
    for i in range(q.shape[1] // n):
        end = (past_frames + i + 1) * n
        out.append(attention(q[:, i * n : (i + 1) * n], k[:, :end], v[:, :end]))
    return torch.cat(out, dim=1)


class MidAttention(nn.Module):
    """Pre-GroupNorm single-head self-attention over all T*H*W tokens with a frame-causal mask, plus residual."""

    def __init__(self, channels: int, groups: int, eps: float = 1e-6):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, channels, eps=eps)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])  # key `to_out.0` as in the checkpoint

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        tokens = self.group_norm(x).flatten(2).transpose(1, 2)  # [B, L, C] with L = T*H*W, frame-major
        out = frame_causal_attention(self.to_q(tokens), self.to_k(tokens), self.to_v(tokens), h * w)
        out = self.to_out[0](out).transpose(1, 2).reshape(b, c, t, h, w)
        return x + out


class MidBlock3D(nn.Module):
    def __init__(self, channels: int, groups: int, add_attention: bool = True):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock3D(channels, channels, groups) for _ in range(2)])
        self.attentions = nn.ModuleList([MidAttention(channels, groups)] if add_attention else [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.resnets[0](x)
        for attn in self.attentions:
            x = attn(x)
        return self.resnets[1](x)


class DownBlock3D(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_layers: int, groups: int, stride):
        super().__init__()
        chans = [in_channels] + [out_channels] * num_layers
        self.resnets = nn.ModuleList(
            [ResnetBlock3D(chans[i], chans[i + 1], groups) for i in range(num_layers)]
        )
        has_down = stride != (1, 1, 1)
        self.downsamplers = nn.ModuleList([Downsample3D(out_channels, stride)]) if has_down else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for resnet in self.resnets:
            x = resnet(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
        return x


class UpBlock3D(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_layers: int, groups: int, factor):
        super().__init__()
        chans = [in_channels] + [out_channels] * num_layers
        self.resnets = nn.ModuleList(
            [ResnetBlock3D(chans[i], chans[i + 1], groups) for i in range(num_layers)]
        )
        has_up = factor != (1, 1, 1)
        self.upsamplers = nn.ModuleList([Upsample3D(out_channels, factor)]) if has_up else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for resnet in self.resnets:
            x = resnet(x)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x
