"""Loading the DiT of any layout: read -> Tencent names -> config -> variant -> build on meta -> transforms ->
strict load -> place. Every way in (generation, `vitascope convert`, `vitascope inspect`) goes through here.

Config problems (an unknown key, a shape the config contradicts) become `ModelFolderError`s naming the file, so
the command line prints one `error:` line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from vitascope.convert.folder import ModelFolder
from vitascope.errors import ModelFolderError, VitascopeError
from vitascope.io.loading import Progress, Transform, assemble
from vitascope.io.weights import read_state_dict
from vitascope.models.dit.config import DiTConfig
from vitascope.models.dit.variants import DiTVariant, build_dit, detect_variant

log = logging.getLogger(__name__)


def config_error(source, e: Exception) -> ModelFolderError:
    """A config ValueError/TypeError as a user-facing error that names the file to fix."""
    return ModelFolderError(f"{source}: {e}")


def is_diffusers_state(keys) -> bool:
    return any(
        k.startswith(("x_embedder.", "transformer_blocks.", "single_transformer_blocks.")) for k in keys
    )


def to_tencent_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if not is_diffusers_state(state):
        return state
    from vitascope.convert.diffusers_dit import diffusers_to_tencent

    return diffusers_to_tencent(state)


def dit_config(folder: ModelFolder, state: dict[str, torch.Tensor]) -> DiTConfig:
    """The DiT config of `folder`: stated (ours, diffusers') or read off the weights' shapes (Tencent's)."""
    from vitascope.convert.diffusers_dit import config_from_diffusers
    from vitascope.convert.tencent import infer_dit_config

    cfg_file = folder.transformer.parent / "config.json"
    try:
        if folder.layout == "diffusers":
            return config_from_diffusers(folder.transformer_config)
        if folder.layout == "vitascope":
            return DiTConfig.from_dict(folder.transformer_config)
        return infer_dit_config(state, i2v=folder.meta.get("i2v", False), overrides=folder.transformer_config)
    except VitascopeError:
        raise
    except (ValueError, TypeError) as e:
        raise config_error(
            cfg_file if folder.transformer_config is not None else folder.transformer, e
        ) from e


def shapes_of(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def load_dit(
    folder: ModelFolder,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    *,
    weights_key: str | None = None,
    transforms: Iterable[Transform] = (),
    progress: Progress | None = None,
) -> nn.Module:
    """The folder's DiT in eval mode on `device` in `dtype` (float8 files are dequantized to `dtype`).

    weights_key: "module" (default) or "ema" for Tencent .pt files that hold both.
    transforms:  applied to the model on meta before its weights are assigned (fp8 layers, offload, ...).
    """
    state = to_tencent_names(read_state_dict(folder.transformer, weights_key, fp8_dtype=dtype))
    config = dit_config(folder, state)
    shapes = shapes_of(state)
    variant = detect_variant(shapes, config)
    log.info("DiT variant %s (%s) from %s", variant.name, variant.description, folder.transformer)
    return assemble(
        lambda: build_dit(variant, config, shapes),
        state,
        folder.transformer,
        device=device,
        dtype=dtype,
        transforms=transforms,
        progress=progress,
        what=f"the {variant.name} DiT its config describes",
        hint=_HINT,
    )


_HINT = (
    "check that the folder holds the model its config describes; `vitascope inspect` lists every key "
    "(or convert the folder with `vitascope convert`)"
)


def variant_of(folder: ModelFolder, weights_key: str | None = None) -> tuple[DiTVariant, DiTConfig]:
    """Which variant a folder's DiT is, reading shapes only."""
    state = to_tencent_names(read_state_dict(folder.transformer, weights_key, meta=True))
    config = dit_config(folder, state)
    return detect_variant(shapes_of(state), config), config


def folder_weights_bytes(path: Path) -> int:
    """Bytes of a weights file, or of all its shards when `path` is a safetensors index."""
    if path.name.endswith(".index.json"):
        import json

        shards = set(json.loads(path.read_text())["weight_map"].values())
        return sum((path.parent / s).stat().st_size for s in shards)
    return path.stat().st_size
