"""Write a model folder in another layout: vitascope <-> diffusers <-> Tencent.

The DiT is renamed/split with `diffusers_dit`; VAE keys are the same in every layout (only the file and the
config differ); text encoders are transformers folders and are copied, tokenizers split out for diffusers.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import torch

from vitascope.convert.diffusers_dit import config_to_diffusers, tencent_to_diffusers
from vitascope.errors import InvalidOptionError

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


def convert_folder(src: str | Path, dst: str | Path, to: str) -> Path:
    from vitascope.models.vae import save_vae
    from vitascope.pipelines.folder import detect_folder
    from vitascope.pipelines.loader import _defaults, load_dit
    from vitascope.pipelines.save import save_vitascope_folder
    from vitascope.pipelines.weights import save_safetensors_atomic, write_json_atomic

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
    from vitascope.models.vae import load_vae

    dit = load_dit(folder, "cpu", torch.float32)
    vae = load_vae(folder.vae)
    sd = {k: v.detach().cpu().contiguous() for k, v in dit.state_dict().items()}
    if to == "vitascope":
        _copy_split(folder.text_encoder, dst / "text_encoder", folder.tokenizer, None)
        _copy_split(folder.text_encoder_2, dst / "text_encoder_2", folder.tokenizer_2, None)
        text = folder.meta.get("text") if folder.layout == "vitascope" else None
        save_vitascope_folder(
            dst,
            dit,
            vae,
            name=folder.name,
            defaults=_defaults(folder, dit.config),
            text=text,
            i2v_mode=folder.meta.get("i2v_mode"),
        )
    elif to == "diffusers":
        _copy_split(folder.text_encoder, dst / "text_encoder", folder.tokenizer, dst / "tokenizer")
        _copy_split(folder.text_encoder_2, dst / "text_encoder_2", folder.tokenizer_2, dst / "tokenizer_2")
        write_json_atomic(config_to_diffusers(dit.config), dst / "transformer" / "config.json")
        save_safetensors_atomic(
            tencent_to_diffusers(sd),
            dst / "transformer" / "diffusion_pytorch_model.safetensors",
            metadata={"format": "pt"},
        )
        save_safetensors_atomic(
            dict(vae.state_dict()),
            dst / "vae" / "diffusion_pytorch_model.safetensors",
            metadata={"format": "pt"},
        )
        write_json_atomic(vae_config_to_diffusers(vae.config), dst / "vae" / "config.json")
        shift = _defaults(folder, dit.config).flow_shift
        write_json_atomic(
            {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": shift},
            dst / "scheduler" / "scheduler_config.json",
        )
        write_json_atomic(
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
                "_vitascope": {
                    "defaults": dataclasses.asdict(_defaults(folder, dit.config)),
                    "text": folder.meta.get("text", {}),
                },
            },
            dst / "model_index.json",
        )
    else:
        model_dir = dst / "hunyuan-video-t2v-720p"
        (model_dir / "transformers").mkdir(parents=True, exist_ok=True)
        tmp = model_dir / "transformers" / "mp_rank_00_model_states.pt.tmp"
        torch.save({"module": sd}, tmp)
        tmp.replace(model_dir / "transformers" / "mp_rank_00_model_states.pt")
        if dit.config.head_dim != 128:  # only released shapes can be inferred; say the rest explicitly
            write_json_atomic(
                {"rope_dim_list": list(dit.config.rope_dim_list)}, model_dir / "transformers" / "config.json"
            )
        save_vae(vae, model_dir / "vae")
        _copy_split(folder.text_encoder, dst / "text_encoder", folder.tokenizer, None)
        _copy_split(folder.text_encoder_2, dst / "text_encoder_2", folder.tokenizer_2, None)
    log.info("converted %s (%s) to %s (%s)", folder.root, folder.layout, dst, to)
    return dst
