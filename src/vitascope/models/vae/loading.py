"""Load and save the VAE in Tencent, diffusers and vitascope layouts.

Layouts (the VAE keys are the same in all three; only files and wrappers differ):
- Tencent:   `<root>/vae/config.json` + `pytorch_model.pt` (dict maybe wrapped in "state_dict", keys maybe
             prefixed "vae.")
- diffusers: `<root>/vae/config.json` + `diffusion_pytorch_model.safetensors` (or a sharded index / `.bin`)
- vitascope: `config.json` + `model.safetensors`
Reading, strict checking and atomic writing are `vitascope.io`'s (the same code as the DiT's): any missing,
unexpected or mis-shaped key raises `WeightLoadError` naming them and the file.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch

from vitascope.errors import ModelFolderError
from vitascope.io.files import save_safetensors_atomic, write_text_atomic
from vitascope.io.loading import Progress, assemble
from vitascope.io.weights import read_state_dict
from vitascope.models.vae.config import VAEConfig
from vitascope.models.vae.model import CausalVAE3D

log = logging.getLogger(__name__)

# In order of preference when a folder holds several.
WEIGHT_FILES = (
    "model.safetensors",
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.safetensors.index.json",
    "pytorch_model.pt",
    "diffusion_pytorch_model.bin",
)
_HINT = "check that config.json belongs to these weights and that they are a HunyuanVideo 1.0 (884-16c) VAE"


def load_vae(
    folder_or_file: str | os.PathLike,
    device="cpu",
    dtype: torch.dtype = torch.float32,
    progress: Progress | None = None,
) -> CausalVAE3D:
    """Build a `CausalVAE3D` from a model folder, its `vae/` subfolder, or a weights file next to config.json."""
    config_path, weights_path = _locate(Path(folder_or_file))
    try:
        config = VAEConfig.from_json_dict(json.loads(config_path.read_text()))
    except (ValueError, TypeError, KeyError) as e:
        raise ModelFolderError(f"{config_path}: {e}") from e
    state = _strip_vae_prefix(read_state_dict(weights_path))
    vae = assemble(
        lambda: CausalVAE3D(config),
        state,
        weights_path,
        device=device,
        dtype=dtype,
        progress=progress,
        what="the VAE built from config.json",
        hint=_HINT,
    )
    log.info("loaded VAE from %s (%s)", weights_path, config_path)
    return vae


def save_vae(vae: CausalVAE3D, folder: str | os.PathLike) -> Path:
    """Write `config.json` + `model.safetensors` into `folder`, each atomically."""
    folder = Path(folder)
    save_safetensors_atomic(folder / "model.safetensors", vae.state_dict(), metadata={"format": "pt"})
    write_text_atomic(folder / "config.json", json.dumps(vae.config.to_json_dict(), indent=2) + "\n")
    return folder


def _strip_vae_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # the official loader strips a "vae." prefix left by the training wrapper
    return {(k[4:] if k.startswith("vae.") else k): v for k, v in state.items()}


def _locate(path: Path) -> tuple[Path, Path]:
    if path.is_file():
        config = path.parent / "config.json"
        if not config.is_file():
            raise ModelFolderError(
                f"{path}: no config.json next to the weights; put the VAE's config.json there"
            )
        return config, path
    if not path.is_dir():
        raise ModelFolderError(f"{path}: no such VAE folder or weights file")
    for folder in (path, path / "vae"):
        config = folder / "config.json"
        weights = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
        if config.is_file() and weights:
            return config, weights[0]
    raise ModelFolderError(
        f"{path}: found no VAE here or in {path / 'vae'}; expected config.json plus one of {', '.join(WEIGHT_FILES)}"
    )
