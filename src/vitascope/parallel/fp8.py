"""fp8 (e4m3) weight-only quantization of a built model, and the official `_fp8.pt` + `_fp8_map.pt` format.

    quantize_fp8(dit, per_channel=True)           # on the fly: Linear -> FP8Linear in the transformer blocks
    apply_fp8_scale_map(dit_or_state, scale_map)   # the official release: fp8 weights + one scale per layer

`FP8Linear` stores the weight as torch.float8_e4m3fn (1 byte per element) with a float32 scale, per tensor
([]) or per output channel ([out, 1]). Two ways to multiply (`matmul`):
- "dequant": W = fp8.to(dtype) * scale, then an ordinary linear in the activation dtype. Saves memory, not
  time. What the release does.
- "scaled": an fp8 matmul (`torch._scaled_mm`): the activations are quantized to e4m3 on the fly, one scale
  per row (per token), and multiplied with the fp8 weight, both scales applied to the float32 accumulator.
  This is what fp8 tensor cores (compute capability 8.9+: Ada, Hopper) run at twice the bf16 rate. PyTorch
  also has a CPU kernel, a slow reference (the tests use it at tiny sizes).
- "auto" (default): "scaled" on a CUDA device of capability 8.9+, "dequant" elsewhere.
As the official code, only the Linears of `double_blocks` and `single_blocks` are quantized.

Official scale maps key each scale by the Linear's module name (e.g. "double_blocks.0.img_attn_qkv") and the
weight is recovered as fp8_weight.to(dtype) * scale.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

FP8 = torch.float8_e4m3fn
FP8_MAX = torch.finfo(FP8).max  # 448
BLOCK_PARTS = ("double_blocks", "single_blocks")
MATMULS = ("auto", "scaled", "dequant")


def scaled_mm_supported(device: torch.device) -> bool:
    """fp8 tensor-core matmuls: CUDA compute capability 8.9 or newer."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 9)


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x [M, K] -> (e4m3 [M, K], float32 scale [M, 1]) with x ~= q * scale, one scale per row."""
    scale = (x.detach().abs().amax(dim=1, keepdim=True).float() / FP8_MAX).clamp_min(1e-12)
    return (x.float() / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8), scale


class FP8Linear(nn.Module):
    """y = x @ (w_fp8 * scale).T + b: the weight dequantized to x's dtype, or an fp8 matmul (`matmul`)."""

    def __init__(
        self, weight_fp8: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None, matmul: str = "auto"
    ):
        super().__init__()
        if matmul not in MATMULS:
            raise ValueError(f"matmul must be one of {MATMULS}, got {matmul!r}")
        self.in_features, self.out_features = weight_fp8.shape[1], weight_fp8.shape[0]
        self.register_buffer("weight", weight_fp8.to(FP8))  # [out, in] e4m3
        self.register_buffer("scale", scale.float())  # [] or [out, 1]
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.matmul = matmul

    @classmethod
    def from_linear(cls, linear: nn.Linear, per_channel: bool = True, matmul: str = "auto") -> FP8Linear:
        w = linear.weight.detach().float()  # [out, in]
        amax = w.abs().amax(dim=1, keepdim=True) if per_channel else w.abs().amax()
        scale = (amax / FP8_MAX).clamp_min(1e-12)
        q = (w / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8)
        return cls(q, scale, linear.bias, matmul)

    def dequantized(self, dtype: torch.dtype) -> torch.Tensor:
        return (self.weight.to(torch.float32) * self.scale).to(dtype)  # [out, in]

    def uses_scaled_mm(self, device: torch.device) -> bool:
        if self.matmul == "auto":
            # cuBLASLt's fp8 kernels want both matrix dims in multiples of 16
            aligned = self.in_features % 16 == 0 and self.out_features % 16 == 0
            return aligned and scaled_mm_supported(device)
        return self.matmul == "scaled"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        if not self.uses_scaled_mm(x.device):
            return F.linear(x, self.dequantized(x.dtype), bias)
        lead = x.shape[:-1]
        xq, x_scale = quantize_rows(x.reshape(-1, self.in_features))  # [M, K], [M, 1]
        w_scale = self.scale.reshape(1, -1) if self.scale.ndim else self.scale.reshape(1, 1)
        w_scale = w_scale.expand(1, self.out_features).contiguous()  # [1, N]: row-wise scaling
        # rowwise-scaled fp8 matmuls return bf16 (the CUDA kernels support no other output with row scales)
        y = torch._scaled_mm(xq, self.weight.t(), scale_a=x_scale, scale_b=w_scale, out_dtype=torch.bfloat16)
        y = y.to(x.dtype)
        if bias is not None:
            y = y + bias
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        kind = "per-tensor" if self.scale.ndim == 0 else "per-channel"
        return f"in={self.in_features}, out={self.out_features}, e4m3 {kind}, matmul={self.matmul}"


def _targets(model: nn.Module, parts=BLOCK_PARTS):
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear) and any(p in name.split(".") for p in parts):
            yield name, mod


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


@torch.no_grad()
def quantize_fp8(
    model: nn.Module, per_channel: bool = True, parts=BLOCK_PARTS, matmul: str = "auto"
) -> nn.Module:
    """Replace the Linears inside `parts` by FP8Linear (in place); returns the model."""
    n = 0
    for name, lin in list(_targets(model, parts)):
        _replace(model, name, FP8Linear.from_linear(lin, per_channel, matmul))
        n += 1
    kind = "per channel" if per_channel else "per tensor"
    log.info("fp8: quantized %d Linears (%s, matmul %s)", n, kind, matmul)
    return model


@torch.no_grad()
def apply_fp8_scale_map(model_or_state, scale_map: dict):
    """Apply an official fp8 scale map.

    - a model whose block Linears hold the raw fp8 values (loaded from `_fp8.pt`, any dtype): each becomes an
      FP8Linear with its scale (in place; returns the model);
    - a state dict: returns a new one whose mapped `.weight` tensors are dequantized to float32.
    A block Linear without a scale raises KeyError naming it.
    """
    if isinstance(model_or_state, nn.Module):
        model = model_or_state
        for name, lin in list(_targets(model)):
            if name not in scale_map:
                raise KeyError(f"fp8 scale map has no scale for {name!r}")
            scale = torch.as_tensor(scale_map[name]).float()
            _replace(model, name, FP8Linear(lin.weight.detach().to(FP8), _as_scale(scale), lin.bias))
        return model
    out = dict(model_or_state)
    for name, scale in scale_map.items():
        key = f"{name}.weight"
        if key in out:
            out[key] = out[key].to(FP8).float() * _as_scale(torch.as_tensor(scale).float())
    return out


def _as_scale(scale: torch.Tensor) -> torch.Tensor:
    """A scalar, [out] or [out, 1] scale -> [] or [out, 1] (broadcast over the input dimension)."""
    if scale.numel() == 1:
        return scale.reshape(())
    return scale.reshape(-1, 1)


def fp8_bytes(model: nn.Module) -> int:
    """Bytes of every parameter and buffer (what fp8 saves shows here)."""
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


__all__ = ["FP8Linear", "apply_fp8_scale_map", "fp8_bytes", "quantize_fp8"]
