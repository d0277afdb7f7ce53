"""A tiny random HunyuanVideo-Avatar folder in the release's layout, for tests and smoke runs.

    <folder>/ckpts/hunyuan-video-t2v-720p/transformers/mp_rank_00_model_states.pt  {"module": state dict}
                                         /transformers/config.json (rope sizes; the release has none)
                  hunyuan-video-t2v-720p/vae/, llava_llama_image/, text_encoder_2/, whisper-tiny/, det_align/
Width 32, one double and one single block (and the emotion module when asked), a 4-layer 16-wide Whisper: `load_avatar_pipeline` loads it exactly
as it loads the release.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from vitascope.pipelines.avatar_loader import DIT_FILE


def _tiny_whisper(folder: Path, seed: int) -> None:
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    torch.manual_seed(seed)
    cfg = WhisperConfig(
        vocab_size=64, d_model=16, encoder_layers=4, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=80,
        max_source_positions=1500, max_target_positions=32, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        decoder_start_token_id=1,
    )  # fmt: skip
    WhisperModel(cfg).eval().save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)


def write_tiny_avatar(folder: str | Path, seed: int = 0, emotion: bool = False) -> Path:
    """Write the tiny folder; returns `folder` (pass it, or folder/ckpts, as --model). emotion: the DiT has
    the emotion module too (random like everything else, so an emotion image changes the output)."""
    from vitascope.io.files import torch_save_atomic, write_json_atomic
    from vitascope.models.audio.avatar_dit import AvatarDiT, avatar_config
    from vitascope.models.text.tiny import tiny_clip_text_model, tiny_clip_tokenizer, tiny_llava
    from vitascope.models.vae import CausalVAE3D, VAEConfig, save_vae
    from vitascope.pipelines.tiny import _reseed, tiny_dit_config

    root = Path(folder)
    ckpts = root / "ckpts"
    llava, tok, proc = tiny_llava(seed=seed + 2)
    for obj in (llava, tok, proc):
        obj.save_pretrained(ckpts / "llava_llama_image")
    clip_tok = tiny_clip_tokenizer()
    tiny_clip_text_model(seed=seed + 1).save_pretrained(ckpts / "text_encoder_2")
    clip_tok.save_pretrained(ckpts / "text_encoder_2")
    _tiny_whisper(ckpts / "whisper-tiny", seed)
    (ckpts / "det_align").mkdir(parents=True, exist_ok=True)  # the release's detector is opt-in: none here

    base = tiny_dit_config(text_dim=llava.config.text_config.hidden_size, pooled_dim=32)
    config = avatar_config(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)})
    config = dataclasses.replace(config, guidance_embed=False)
    dit = AvatarDiT(
        config, audio_channels=16, audio_layers=5, adapter_dim_head=16, audio_hidden=32, emotion=emotion
    )
    _reseed(dit, seed)
    path = ckpts / DIT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path.parent / "config.json", {"rope_dim_list": list(config.rope_dim_list)})
    torch_save_atomic(path, {"module": {k: v.contiguous() for k, v in dit.state_dict().items()}})
    vae = CausalVAE3D(VAEConfig(block_out_channels=(4, 8, 8, 8), layers_per_block=1, norm_num_groups=4))
    _reseed(vae, seed + 1)
    save_vae(vae, path.parent.parent / "vae")
    return root
