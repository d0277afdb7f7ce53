"""Tiny diffusers HunyuanVideo pipelines (the reference) built from offline parts, for parity tests."""

from __future__ import annotations

import torch

from _helpers import reseed_parameters


def tiny_diffusers_vae():
    from diffusers import AutoencoderKLHunyuanVideo

    vae = AutoencoderKLHunyuanVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=16,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=(8, 16, 16, 16),
        layers_per_block=1,
        norm_num_groups=4,
    )
    reseed_parameters(vae, 11)
    return vae.eval()


def tiny_diffusers_transformer(image_condition_type=None):
    from diffusers import HunyuanVideoTransformer3DModel

    in_ch = 33 if image_condition_type == "latent_concat" else 16
    model = HunyuanVideoTransformer3DModel(
        in_channels=in_ch,
        out_channels=16,
        num_attention_heads=2,
        attention_head_dim=16,
        num_layers=1,
        num_single_layers=1,
        num_refiner_layers=1,
        text_embed_dim=32,
        pooled_projection_dim=32,
        rope_axes_dim=(4, 6, 6),
        guidance_embeds=image_condition_type != "latent_concat",
        image_condition_type=image_condition_type,
    )
    reseed_parameters(model, 12)
    # reseed makes every weight O(1/sqrt(fan_in)); shrink the output so 3 Euler steps stay in a sane range
    with torch.no_grad():
        model.proj_out.weight.mul_(0.1)
    return model.eval()


def tiny_diffusers_t2v(shift: float = 7.0):
    from diffusers import FlowMatchEulerDiscreteScheduler, HunyuanVideoPipeline

    from vitascope.models.text.tiny import (
        tiny_clip_text_model,
        tiny_clip_tokenizer,
        tiny_llama_model,
        tiny_llama_tokenizer,
    )

    tok, ctok = tiny_llama_tokenizer(), tiny_clip_tokenizer()
    llm = tiny_llama_model(len(tok), pad_token_id=tok.pad_token_id)
    clip = tiny_clip_text_model()
    reseed_parameters(llm, 1)
    reseed_parameters(clip, 2)
    return HunyuanVideoPipeline(
        text_encoder=llm,
        tokenizer=tok,
        transformer=tiny_diffusers_transformer(),
        vae=tiny_diffusers_vae(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=shift),
        text_encoder_2=clip,
        tokenizer_2=ctok,
    )


def tiny_diffusers_i2v(image_condition_type="token_replace", shift: float = 7.0):
    from diffusers import FlowMatchEulerDiscreteScheduler, HunyuanVideoImageToVideoPipeline

    from vitascope.models.text.tiny import tiny_clip_text_model, tiny_clip_tokenizer, tiny_llava

    llava, tok, proc = tiny_llava()
    reseed_parameters(llava, 3)
    clip = tiny_clip_text_model()
    reseed_parameters(clip, 2)
    return HunyuanVideoImageToVideoPipeline(
        text_encoder=llava,
        tokenizer=tok,
        transformer=tiny_diffusers_transformer(image_condition_type),
        vae=tiny_diffusers_vae(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=shift),
        text_encoder_2=clip,
        tokenizer_2=tiny_clip_tokenizer(),
        image_processor=proc,
    )
