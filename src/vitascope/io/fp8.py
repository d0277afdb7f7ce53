"""float8 checkpoints with a scale map (HunyuanVideo-Avatar's `mp_rank_00_model_states_fp8.pt`).

The release stores the Linear weights of the double and single blocks as `float8_e4m3fn` and one scale per
layer in `<file>_map.pt` (`{module name: scale}`, possibly under a `module` key). Its forward computes
`w.to(dtype) * scale.to(dtype)` with the run's dtype, so dequantizing once at load with the same two casts
gives the same weights bit for bit (the product of an fp8 value and a scale is exact in float32, then
rounded once). A float8 tensor is never cast without its scale: that would silently shrink every weight.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from vitascope.errors import WeightLoadError

log = logging.getLogger(__name__)

FP8_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2)


def has_fp8(state: dict[str, torch.Tensor]) -> bool:
    return any(v.dtype in FP8_DTYPES for v in state.values())


def scale_map_path(path: str | Path) -> Path:
    """Where the release keeps the scales: `x_fp8.pt` -> `x_fp8_map.pt`."""
    path = Path(path)
    return path.with_name(path.stem + "_map" + path.suffix)


def read_scales(path: str | Path) -> dict[str, torch.Tensor]:
    """The scale map of an fp8 checkpoint, `{module name: scale}`; raises when it is missing or malformed."""
    map_path = scale_map_path(path)
    if not map_path.is_file():
        raise WeightLoadError(
            f"{path} holds float8 weights but their scale map {map_path.name} is not next to it; download "
            f"{map_path.name} into {map_path.parent}, or use the bf16 checkpoint (mp_rank_00_model_states.pt)"
        )
    try:
        obj = torch.load(str(map_path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightLoadError(f"cannot read {map_path} as a weights-only scale map: {e}") from e
    if isinstance(obj, dict) and isinstance(obj.get("module"), dict):
        obj = obj["module"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightLoadError(f"{map_path} is not a scale map ({{module name: tensor}})")
    return obj


def fp8_coverage(state: dict[str, torch.Tensor], scales: dict[str, torch.Tensor]) -> list[str]:
    """float8 tensors that have no scale in the map (each should be `<module>.weight` with `<module>` in it)."""
    return sorted(
        k
        for k, v in state.items()
        if v.dtype in FP8_DTYPES and not (k.endswith(".weight") and k[:-7] in scales)
    )


def dequantize(weight: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`weight.to(dtype) * scale.to(dtype)`, as the release's fp8 Linear computes it in every forward."""
    s = scale.to(dtype)
    if s.numel() > 1 and s.numel() == weight.shape[0]:  # a per-row scale [out]: broadcast over inputs
        s = s.reshape(-1, *([1] * (weight.dim() - 1)))
    return weight.to(dtype) * s


def resolve_fp8(state: dict, path: Path, *, dtype: torch.dtype, meta: bool = False) -> dict:
    """Dequantize every float8 tensor of `state` with the scale map next to `path` (meta: check only)."""
    scales = read_scales(path)
    unscaled = fp8_coverage(state, scales)
    if unscaled:
        raise WeightLoadError(
            f"{path}: {len(unscaled)} float8 tensors have no scale in {scale_map_path(path).name}: "
            f"{', '.join(unscaled[:8])}"
        )
    if meta:
        return state
    out = dict(state)
    n = 0
    for k, v in state.items():
        if v.dtype in FP8_DTYPES:
            out[k] = dequantize(v, scales[k[:-7]], dtype)
            n += 1
    log.info("dequantized %d float8 weights of %s to %s with their scales", n, path.name, dtype)
    return out
