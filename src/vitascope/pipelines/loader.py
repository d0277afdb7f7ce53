"""Build a VideoPipeline from a model folder of any supported layout.

Steps: resolve device and dtype (fail fast) -> find the folder's parts -> DiT (build on meta, transforms such
as LoRA merges, strict load, place) -> VAE -> text encoders -> defaults and identity. The compute dtype and
device travel to the pipeline explicitly; nothing later guesses them from a parameter.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path

import torch

from vitascope.convert.folder import ModelFolder, detect_folder, folder_defaults
from vitascope.convert.loader import folder_weights_bytes, load_dit
from vitascope.devices import DTYPES, resolve_device, resolve_dtype
from vitascope.errors import ModelFolderError
from vitascope.io.loading import Transform
from vitascope.pipelines.options import ModelDefaults

log = logging.getLogger(__name__)

__all__ = [
    "DTYPES",
    "demo_model_path",
    "pose_model_path",
    "load_dit",
    "load_pipeline",
    "resolve_device",
    "resolve_dtype",
]

OFFICIAL_TEXT = {"template": "dit-llm-encode-video", "max_length": 256, "hidden_state_skip_layer": 2}
# progress(stage, done, total): bytes placed on the device for stage "weights" (the DiT), then "vae"
LoadProgress = Callable[[str, int, int], None]


def demo_model_path() -> Path:
    path = Path(str(resources.files("vitascope") / "assets" / "demo"))
    if not (path / "vitascope.json").exists():
        raise ModelFolderError(
            f"the bundled demo model is missing from this install ({path}); pass --model DIR"
        )
    return path


def pose_model_path() -> Path:
    """The bundled pose-driven model (its VAE and DiT; the demo model's text encoders by reference)."""
    path = Path(str(resources.files("vitascope") / "assets" / "pose"))
    if not (path / "vitascope.json").exists():
        raise ModelFolderError(
            f"the bundled pose model is missing from this install ({path}); pass --model DIR"
        )
    return path


def load_pipeline(
    model: str | Path | None = None,
    *,
    device: str | None = "cpu",
    dtype="float32",
    loras: list[tuple[str | Path, float] | str] | None = None,
    lora_mode: str = "merge",
    weights_key: str | None = None,
    transforms: Iterable[Transform] = (),
    progress: LoadProgress | None = None,
):
    """`loras`: (file, weight) pairs or "file:weight" strings, any LoRA format (docs/lora.md); `lora_mode`
    "merge" adds them into the DiT weights, "runtime" keeps them as PEFT adapters (weights changeable).
    `weights_key`: "module" (default) or "ema" for Tencent .pt checkpoints that hold both.
    `transforms`: `transform(model) -> model` callables applied to the DiT on meta, before its weights arrive
    (the slot for fp8 layers, offload hooks, sequence parallel)."""
    from vitascope.models.vae import load_vae
    from vitascope.pipelines.video import VideoPipeline

    # 1. Device and dtype, before any file is read: fail fast.
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    # 2. The folder's parts.
    folder = detect_folder(demo_model_path() if model is None else Path(model))
    if folder.meta.get("release") == "avatar":  # HunyuanVideo-Avatar's release: the audio-driven pipeline
        from vitascope.errors import InvalidOptionError
        from vitascope.pipelines.avatar_loader import load_avatar_pipeline

        if loras or tuple(transforms):
            raise InvalidOptionError("LoRAs and load transforms are not supported for the Avatar model yet")
        return load_avatar_pipeline(folder, device=dev, dtype=dt, weights_key=weights_key)
    log.info("loading %s model from %s on %s (%s)", folder.layout, folder.root, dev, dt)
    # 3. The DiT: build on meta -> transforms -> strict load -> place; then LoRAs (PEFT, merged or at run time).
    dit = load_dit(
        folder,
        dev,
        dt,
        weights_key=weights_key,
        transforms=transforms,
        progress=(lambda done, total: progress("weights", done, total)) if progress else None,
    )
    applied = []
    if loras:
        from vitascope.convert.lora_peft import load_loras

        applied = load_loras(dit, loras, mode=lora_mode)
    # 4. VAE and text encoders.
    vae = load_vae(
        folder.vae,
        device=dev,
        dtype=dt,
        progress=(lambda done, total: progress("vae", done, total)) if progress else None,
    )
    text, i2v_text, clip = _text_encoders(folder, dit.config, dev, dt)
    # 5. Defaults and identity.
    identity = {
        "name": folder.name,
        "layout": folder.layout,
        "path": str(folder.root.resolve()),
        "config_sha256": hashlib.sha256(
            json.dumps(dit.config.to_dict(), sort_keys=True).encode()
        ).hexdigest()[:16],
        "weights_bytes": folder_weights_bytes(folder.transformer),
    }
    if weights_key:
        identity["weights_key"] = weights_key
    if applied:
        identity["loras"] = applied
    return VideoPipeline(
        dit,
        vae,
        text,
        clip,
        defaults=_defaults(folder, dit.config),
        identity=identity,
        device=dev,
        dtype=dt,
        i2v_text_encoder=i2v_text,
        i2v_mode=folder.meta.get("i2v_mode"),
    )


def _text_encoders(folder: ModelFolder, config, dev: torch.device, dt: torch.dtype):
    """(LLM encoder or None, LLaVA I2V encoder or None, CLIP encoder) for the folder's kind of model."""
    from vitascope.models.text.clip import CLIPEncoder
    from vitascope.models.text.llm import LLMEncoder

    clip = CLIPEncoder.from_folder(
        folder.text_encoder_2, tokenizer_folder=folder.tokenizer_2, device=dev, dtype=dt
    )
    llava_i2v = (folder.layout == "tencent" and folder.meta.get("i2v")) or (
        folder.layout == "diffusers" and folder.meta.get("_class_name") == "HunyuanVideoImageToVideoPipeline"
    )
    if llava_i2v:
        from vitascope.models.text.llava import LlavaI2VEncoder

        i2v_text = LlavaI2VEncoder.from_folder(
            folder.text_encoder,
            tokenizer_folder=folder.tokenizer,
            device=dev,
            dtype=dt,
            image_embed_interleave=4 if config.image_condition_type == "token_replace" else 2,
        )
        return None, i2v_text, clip
    cfg = {
        **OFFICIAL_TEXT,
        **folder.meta.get("text", {}),
        **folder.meta.get("_vitascope", {}).get("text", {}),
    }
    text = LLMEncoder.from_folder(
        folder.text_encoder,
        tokenizer_folder=folder.tokenizer,
        template=cfg["template"],
        max_length=cfg["max_length"],
        hidden_state_skip_layer=cfg["hidden_state_skip_layer"],
        device=dev,
        dtype=dt,
    )
    return text, None, clip


def _defaults(folder: ModelFolder, config) -> ModelDefaults:
    return ModelDefaults(**folder_defaults(folder, config))
