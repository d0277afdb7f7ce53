"""Load and save the VAE in Tencent, diffusers and vitascope layouts.

Layouts (the VAE keys are the same in all three; only files and wrappers differ):
- Tencent:   `<root>/vae/config.json` + `pytorch_model.pt` (dict maybe wrapped in "state_dict", keys maybe
             prefixed "vae.")
- diffusers: `<root>/vae/config.json` + `diffusion_pytorch_model.safetensors` (or a sharded index / `.bin`)
- vitascope: `config.json` + `model.safetensors`
Loading is strict: any missing, unexpected or mis-shaped key raises `WeightLoadError` naming them and the file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import torch

from vitascope.errors import ModelFolderError, WeightLoadError
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
_SHOWN = 5  # keys listed per category in error messages


def load_vae(
    folder_or_file: str | os.PathLike, device="cpu", dtype: torch.dtype = torch.float32
) -> CausalVAE3D:
    """Build a `CausalVAE3D` from a model folder, its `vae/` subfolder, or a weights file next to config.json."""
    config_path, weights_path = _locate(Path(folder_or_file))
    config = VAEConfig.from_json_dict(json.loads(config_path.read_text()))
    state = read_state_dict(weights_path)
    with torch.device("meta"):  # no time spent on a random init that is overwritten at once
        vae = CausalVAE3D(config)
    check_state_dict(vae, state, weights_path)
    state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
    vae.load_state_dict(state, strict=True, assign=True)
    log.info("loaded VAE from %s (%s)", weights_path, config_path)
    return vae.to(device).eval()


def save_vae(vae: CausalVAE3D, folder: str | os.PathLike) -> Path:
    """Write `config.json` + `model.safetensors` into `folder`, each via a temp file and an atomic rename."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in vae.state_dict().items()}
    _atomic_write(folder / "model.safetensors", lambda p: save_file(state, str(p), metadata={"format": "pt"}))
    text = json.dumps(vae.config.to_json_dict(), indent=2) + "\n"
    _atomic_write(folder / "config.json", lambda p: p.write_text(text))
    return folder


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a VAE state dict from .safetensors, a sharded index, or a torch pickle (weights only)."""
    if path.name.endswith(".index.json"):
        from safetensors.torch import load_file

        shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
        state = {}
        for shard in shards:
            state.update(load_file(str(path.parent / shard), device="cpu"))
        return state
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # Tencent's loader unwraps this too
    if not isinstance(obj, dict):
        raise WeightLoadError(f"{path}: expected a dict of tensors, found {type(obj).__name__}")
    # the official loader strips a "vae." prefix left by the training wrapper
    return {(k[4:] if k.startswith("vae.") else k): v for k, v in obj.items()}


def check_state_dict(vae: CausalVAE3D, state: dict[str, torch.Tensor], source) -> None:
    """Raise `WeightLoadError` naming missing, unexpected and mis-shaped keys (first few + counts)."""
    expected = vae.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    if not (missing or unexpected or wrong):
        return
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if keys:
            more = f", ... (+{len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else ""
            parts.append(f"{len(keys)} {label}: {', '.join(keys[:_SHOWN])}{more}")
    raise WeightLoadError(
        f"{source}: weights do not match the VAE built from config.json ({'; '.join(parts)}). "
        "Check that config.json belongs to these weights and that they are a HunyuanVideo 1.0 (884-16c) VAE."
    )


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


def _atomic_write(target: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
