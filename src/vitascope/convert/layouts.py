"""Write a model folder in another layout: vitascope <-> diffusers <-> Tencent.

The DiT is renamed/split with `diffusers_dit`; VAE keys are the same in every layout (only the file and the
config differ); text encoders are transformers folders and are copied, tokenizers split out for diffusers.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from vitascope.convert.diffusers_dit import config_to_diffusers, tencent_to_diffusers
from vitascope.convert.folder import ModelFolder, detect_folder, folder_defaults
from vitascope.convert.loader import load_dit
from vitascope.convert.save import save_vitascope_folder
from vitascope.errors import InvalidOptionError
from vitascope.io.files import save_safetensors_atomic, torch_save_atomic, write_json_atomic

log = logging.getLogger(__name__)

LAYOUTS = ("vitascope", "diffusers", "tencent")
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "added_tokens.json",
    "tokenizer.model",
)


def vae_config_to_diffusers(cfg) -> dict:
    n = len(cfg.block_out_channels)
    return {
        "_class_name": "AutoencoderKLHunyuanVideo",
        "in_channels": cfg.in_channels,
        "out_channels": cfg.out_channels,
        "latent_channels": cfg.latent_channels,
        "down_block_types": ["HunyuanVideoDownBlock3D"] * n,
        "up_block_types": ["HunyuanVideoUpBlock3D"] * n,
        "block_out_channels": list(cfg.block_out_channels),
        "layers_per_block": cfg.layers_per_block,
        "norm_num_groups": cfg.norm_num_groups,
        "scaling_factor": cfg.scaling_factor,
        "spatial_compression_ratio": cfg.spatial_compression_ratio,
        "temporal_compression_ratio": cfg.temporal_compression_ratio,
        "mid_block_add_attention": cfg.mid_block_add_attention,
    }


def _copy_split(src: Path, model_dst: Path, tok_src: Path | None, tok_dst: Path | None) -> None:
    """Copy a transformers folder; with tok_dst, tokenizer files go there (diffusers) instead of inside."""
    shutil.copytree(src, model_dst, dirs_exist_ok=True)
    if tok_src is not None and tok_src != src:
        shutil.copytree(tok_src, tok_dst or model_dst, dirs_exist_ok=True)
    if tok_dst is not None:
        tok_dst.mkdir(parents=True, exist_ok=True)
        for name in _TOKENIZER_FILES:
            if (model_dst / name).exists():
                shutil.move(str(model_dst / name), tok_dst / name)


def convert_folder(
    src: str | Path,
    dst: str | Path,
    to: str,
    *,
    weights_key: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the model folder `src` into the new folder `dst` in layout `to` (weights renamed, not retrained).

    progress(done, total): bytes of DiT weights read so far."""
    from vitascope.models.vae import load_vae

    if to not in LAYOUTS:
        raise InvalidOptionError(f"--to must be one of {LAYOUTS}, got {to!r}")
    folder = detect_folder(src)
    dst = Path(dst)
    if dst.exists() and any(dst.iterdir()):
        raise InvalidOptionError(f"{dst} exists and is not empty; choose a new --out folder")
    if folder.meta.get("i2v") or folder.meta.get("_class_name") == "HunyuanVideoImageToVideoPipeline":
        raise InvalidOptionError(
            "converting LLaVA-based I2V folders is not supported yet; convert T2V folders"
        )
    dit = load_dit(folder, "cpu", torch.float32, weights_key=weights_key, progress=progress)
    vae = load_vae(folder.vae)
    defaults = folder_defaults(folder, dit.config)
    {"vitascope": _to_vitascope, "diffusers": _to_diffusers, "tencent": _to_tencent}[to](
        folder, dst, dit, vae, defaults
    )
    log.info("converted %s (%s) to %s (%s)", folder.root, folder.layout, dst, to)
    return dst


def _to_vitascope(folder: ModelFolder, dst: Path, dit, vae, defaults: dict) -> None:
    _copy_split(folder.text_encoder, dst / "text_encoder", folder.tokenizer, None)
    _copy_split(folder.text_encoder_2, dst / "text_encoder_2", folder.tokenizer_2, None)
    text = folder.meta.get("text") if folder.layout == "vitascope" else None
    save_vitascope_folder(
        dst, dit, vae, name=folder.name, defaults=defaults, text=text, i2v_mode=folder.meta.get("i2v_mode")
    )


def _to_diffusers(folder: ModelFolder, dst: Path, dit, vae, defaults: dict) -> None:
    _copy_split(folder.text_encoder, dst / "text_encoder", folder.tokenizer, dst / "tokenizer")
    _copy_split(folder.text_encoder_2, dst / "text_encoder_2", folder.tokenizer_2, dst / "tokenizer_2")
    write_json_atomic(dst / "transformer" / "config.json", config_to_diffusers(dit.config))
    save_safetensors_atomic(
        dst / "transformer" / "diffusion_pytorch_model.safetensors",
        tencent_to_diffusers(dit.state_dict()),
        metadata={"format": "pt"},
    )
    save_safetensors_atomic(
        dst / "vae" / "diffusion_pytorch_model.safetensors", vae.state_dict(), metadata={"format": "pt"}
    )
    write_json_atomic(dst / "vae" / "config.json", vae_config_to_diffusers(vae.config))
    write_json_atomic(
        dst / "scheduler" / "scheduler_config.json",
        {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": defaults.get("flow_shift", 7.0)},
    )
    write_json_atomic(
        dst / "model_index.json",
        {
            "_class_name": "HunyuanVideoPipeline",
            "transformer": ["diffusers", "HunyuanVideoTransformer3DModel"],
            "vae": ["diffusers", "AutoencoderKLHunyuanVideo"],
            "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
            "text_encoder": ["transformers", "LlamaModel"],
            "tokenizer": ["transformers", "PreTrainedTokenizerFast"],
            "text_encoder_2": ["transformers", "CLIPTextModel"],
            "tokenizer_2": ["transformers", "CLIPTokenizer"],
            # diffusers ignores underscored keys; we keep the source's defaults and text settings here
            "_vitascope": {"defaults": defaults, "text": folder.meta.get("text", {})},
        },
    )


def _to_tencent(folder: ModelFolder, dst: Path, dit, vae, defaults: dict) -> None:
    from vitascope.models.vae import save_vae

    model_dir = dst / "hunyuan-video-t2v-720p"
    sd = {k: v.detach().cpu().contiguous() for k, v in dit.state_dict().items()}
    torch_save_atomic(model_dir / "transformers" / "mp_rank_00_model_states.pt", {"module": sd})
    if dit.config.head_dim != 128:  # only released shapes can be inferred; say the rest explicitly
        write_json_atomic(
            model_dir / "transformers" / "config.json", {"rope_dim_list": list(dit.config.rope_dim_list)}
        )
    save_vae(vae, model_dir / "vae")
    _copy_split(folder.text_encoder, dst / "text_encoder", folder.tokenizer, None)
    _copy_split(folder.text_encoder_2, dst / "text_encoder_2", folder.tokenizer_2, None)
