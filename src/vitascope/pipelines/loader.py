"""Build a VideoPipeline from a model folder of any supported layout."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from importlib import resources
from pathlib import Path

import torch

from vitascope.errors import InvalidOptionError, ModelFolderError
from vitascope.pipelines.folder import ModelFolder, detect_folder
from vitascope.pipelines.options import ModelDefaults
from vitascope.pipelines.weights import load_strict, read_state_dict

log = logging.getLogger(__name__)

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}
# The official defaults (sample_video.py / README) for the released models.
OFFICIAL_T2V = ModelDefaults()
OFFICIAL_I2V = ModelDefaults(flow_shift=7.0, guidance=6.0, i2v_stability=True)
OFFICIAL_TEXT = {"template": "dit-llm-encode-video", "max_length": 256, "hidden_state_skip_layer": 2}


def demo_model_path() -> Path:
    path = Path(str(resources.files("vitascope") / "assets" / "demo"))
    if not (path / "vitascope.json").exists():
        raise ModelFolderError(
            f"the bundled demo model is missing from this install ({path}); pass --model DIR"
        )
    return path


def resolve_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidOptionError("device 'cuda' was asked for but no CUDA GPU is visible; use --device cpu")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InvalidOptionError("device 'mps' was asked for but Metal is not available; use --device cpu")
    return dev


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise InvalidOptionError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


def load_dit(folder: ModelFolder, device, dtype):
    from vitascope.convert.diffusers_dit import config_from_diffusers, diffusers_to_tencent
    from vitascope.convert.tencent import infer_dit_config
    from vitascope.models.dit import DiTConfig
    from vitascope.models.pose import dit_class_for_state

    state = read_state_dict(folder.transformer)
    if folder.layout == "diffusers":
        state = diffusers_to_tencent(state)
        config = config_from_diffusers(folder.transformer_config)
    elif folder.layout == "vitascope":
        config = DiTConfig.from_dict(folder.transformer_config)
    else:
        config = infer_dit_config(
            state, i2v=folder.meta.get("i2v", False), overrides=folder.transformer_config
        )
    with torch.device("meta"):  # no 13B random init: the weights are assigned straight from the file
        dit = dit_class_for_state(state)(config)  # the base DiT, or a variant its keys name (PoseDiT)
    load_strict(dit, state, folder.transformer, assign=True)
    return dit.to(device=device, dtype=dtype).eval()


def load_pipeline(
    model: str | Path | None = None,
    *,
    device: str | None = "cpu",
    dtype="float32",
    loras: list[tuple[str | Path, float] | str] | None = None,
    lora_mode: str = "merge",
):
    """`loras`: (file, weight) pairs or "file:weight" strings, any LoRA format (docs/lora.md); `lora_mode`
    "merge" adds them into the DiT weights, "runtime" keeps them as PEFT adapters (weights changeable)."""
    from vitascope.models.text.clip import CLIPEncoder
    from vitascope.models.text.llm import LLMEncoder
    from vitascope.models.vae import load_vae
    from vitascope.pipelines.video import VideoPipeline

    dev, dt = resolve_device(device), resolve_dtype(dtype)  # before any file is read: fail fast
    root = demo_model_path() if model is None else Path(model)
    folder = detect_folder(root)
    log.info("loading %s model from %s on %s (%s)", folder.layout, folder.root, dev, dt)

    dit = load_dit(folder, dev, dt)
    applied = []
    if loras:
        from vitascope.convert.lora_peft import load_loras

        applied = load_loras(dit, loras, mode=lora_mode)
    vae = load_vae(folder.vae, device=dev, dtype=dt).eval()
    text_cfg = {
        **OFFICIAL_TEXT,
        **folder.meta.get("text", {}),
        **folder.meta.get("_vitascope", {}).get("text", {}),
    }
    i2v_text = None
    if folder.layout == "diffusers" and folder.meta.get("_class_name") == "HunyuanVideoImageToVideoPipeline":
        from vitascope.models.text.llava import LlavaI2VEncoder

        i2v_text = LlavaI2VEncoder.from_folder(
            folder.text_encoder,
            tokenizer_folder=folder.tokenizer,
            device=dev,
            dtype=dt,
            image_embed_interleave=4 if dit.config.image_condition_type == "token_replace" else 2,
        )
        text = None
    elif folder.layout == "tencent" and folder.meta.get("i2v"):
        from vitascope.models.text.llava import LlavaI2VEncoder

        i2v_text = LlavaI2VEncoder.from_folder(
            folder.text_encoder,
            device=dev,
            dtype=dt,
            image_embed_interleave=4 if dit.config.image_condition_type == "token_replace" else 2,
        )
        text = None
    else:
        text = LLMEncoder.from_folder(
            folder.text_encoder,
            tokenizer_folder=folder.tokenizer,
            template=text_cfg["template"],
            max_length=text_cfg["max_length"],
            hidden_state_skip_layer=text_cfg["hidden_state_skip_layer"],
            device=dev,
            dtype=dt,
        )
    clip = CLIPEncoder.from_folder(
        folder.text_encoder_2, tokenizer_folder=folder.tokenizer_2, device=dev, dtype=dt
    )

    defaults = _defaults(folder, dit.config)
    identity = {
        "name": folder.name,
        "layout": folder.layout,
        "path": str(folder.root.resolve()),
        "config_sha256": hashlib.sha256(
            json.dumps(dit.config.to_dict(), sort_keys=True).encode()
        ).hexdigest()[:16],
        "weights_bytes": folder.transformer.stat().st_size,
    }
    if applied:
        identity["loras"] = applied
    return VideoPipeline(
        dit,
        vae,
        text,
        clip,
        defaults=defaults,
        identity=identity,
        device=dev,
        i2v_text_encoder=i2v_text,
        i2v_mode=folder.meta.get("i2v_mode"),
    )


def _defaults(folder: ModelFolder, config) -> ModelDefaults:
    # Our folders are trained at one size: I2V uses it unless a bucket family is named.
    if folder.layout == "vitascope":
        return ModelDefaults(**{"i2v_resolution": "default", **folder.meta.get("defaults", {})})
    if "_vitascope" in folder.meta:  # a diffusers folder written by `vitascope convert`
        return ModelDefaults(**{"i2v_resolution": "default", **folder.meta["_vitascope"].get("defaults", {})})
    base = OFFICIAL_I2V if config.image_condition_type else OFFICIAL_T2V
    if not config.guidance_embed:
        base = dataclasses.replace(base, guidance=1.0)
    sched = folder.root / "scheduler" / "scheduler_config.json"
    if folder.layout == "diffusers" and sched.exists():
        shift = json.loads(sched.read_text()).get("shift")
        if shift:
            base = dataclasses.replace(base, flow_shift=float(shift))
    return base
