"""Tencent-layout release folders built from a small model folder of ours (T2V, and the Avatar release's weights/ tree)."""

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from vitascope.io.fp8 import scale_map_path


def avatar_state(tiny: Path) -> dict[str, torch.Tensor]:
    """A small AvatarDiT (the folder's DiT config without I2V, narrow audio modules), seeded."""
    from vitascope.models.audio.avatar_dit import AvatarDiT
    from vitascope.models.dit import DiTConfig

    cfg = json.loads((tiny / "transformer" / "config.json").read_text())
    config = DiTConfig.from_dict({**cfg, "image_condition_type": None, "guidance_embed": False})
    torch.manual_seed(0)
    return AvatarDiT(config, audio_channels=4, adapter_dim_head=16, audio_hidden=24).state_dict()


def dit_state(tiny: Path) -> dict[str, torch.Tensor]:
    return load_file(tiny / "transformer" / "model.safetensors")


def tencent_release(tiny: Path, ckpts: Path, state=None, *, ema=None, avatar=False, fp8=False) -> Path:
    """ckpts/hunyuan-video-t2v-720p/{transformers,vae}, text encoders beside it (the release's ckpts/)."""
    model_dir = ckpts / "hunyuan-video-t2v-720p"
    (model_dir / "transformers").mkdir(parents=True)
    if state is None:
        state = avatar_state(tiny) if avatar else dit_state(tiny)
    state = dict(state)
    obj = {"module": state, **({"ema": ema} if ema is not None else {})}
    name = "mp_rank_00_model_states_fp8.pt" if fp8 else "mp_rank_00_model_states.pt"
    if fp8:
        obj["module"], scales = quantize_blocks(state)
        torch.save({"module": scales}, scale_map_path(model_dir / "transformers" / name))
    torch.save(obj, model_dir / "transformers" / name)
    # a small head size: the RoPE split is stated (released shapes are inferred)
    rope = json.loads((tiny / "transformer" / "config.json").read_text())["rope_dim_list"]
    (model_dir / "transformers" / "config.json").write_text(json.dumps({"rope_dim_list": rope}))
    shutil.copytree(tiny / "vae", model_dir / "vae")
    shutil.copytree(tiny / "text_encoder", ckpts / ("llava_llama_image" if avatar else "text_encoder"))
    shutil.copytree(tiny / "text_encoder_2", ckpts / "text_encoder_2")
    if avatar:
        (ckpts / "whisper-tiny").mkdir()
        (ckpts / "whisper-tiny" / "config.json").write_text("{}")
        (ckpts / "det_align").mkdir()
        (ckpts / "det_align" / "detface.pt").write_bytes(b"")
    return ckpts


def quantize_blocks(state):
    """The release's fp8 file: Linear weights of the double/single blocks as float8 with a per-layer scale."""
    out, scales = dict(state), {}
    for k, v in state.items():
        if k.startswith(("double_blocks.", "single_blocks.")) and k.endswith(".weight") and v.ndim == 2:
            scale = v.abs().max().float() / 448.0
            out[k] = (v.float() / scale).to(torch.float8_e4m3fn)
            scales[k[: -len(".weight")]] = scale
    return out, scales
