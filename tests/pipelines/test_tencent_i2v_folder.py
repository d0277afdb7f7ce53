"""A Tencent-layout I2V release folder (hunyuan-video-i2v-720p/transformers/mp_rank_00_model_states.pt,
text_encoder_i2v/ with the full LLaVA, text_encoder_2/) written from tiny weights gives diffusers' I2V frames."""

import json

import numpy as np
import PIL.Image
import torch
from pipe_builders import tiny_diffusers_i2v

import vitascope
from vitascope.convert.diffusers_dit import diffusers_to_tencent
from vitascope.models.text import PROMPT_TEMPLATES
from vitascope.models.text.llava import image_token_count

PROMPT = "a white circle moving down on a black background"


def _write_tencent_i2v(pipe, root):
    model_dir = root / "hunyuan-video-i2v-720p"
    (model_dir / "transformers").mkdir(parents=True)
    sd = diffusers_to_tencent(pipe.transformer.state_dict())
    torch.save({"module": sd}, model_dir / "transformers" / "mp_rank_00_model_states.pt")
    # released shapes are inferred; a tiny head size states its RoPE split (our documented extension)
    (model_dir / "transformers" / "config.json").write_text(json.dumps({"rope_dim_list": [4, 6, 6]}))
    pipe.vae.save_pretrained(model_dir / "vae")  # diffusers' VAE keys are Tencent's
    for obj in (pipe.text_encoder, pipe.tokenizer, pipe.image_processor):
        obj.save_pretrained(root / "text_encoder_i2v")
    for obj in (pipe.text_encoder_2, pipe.tokenizer_2):
        obj.save_pretrained(root / "text_encoder_2")
    return root


def test_tencent_i2v_release_folder_matches_diffusers(tmp_path):
    pipe = tiny_diffusers_i2v("token_replace", shift=7.0)
    root = _write_tencent_i2v(pipe, tmp_path / "ckpts")
    img = (np.random.default_rng(1).random((32, 32, 3)) * 255).astype(np.uint8)
    PIL.Image.fromarray(img).save(tmp_path / "in.png")
    n = image_token_count(pipe.text_encoder.config)
    t = PROMPT_TEMPLATES["dit-llm-encode-video-i2v"]
    template = {
        "template": t.template,
        "crop_start": t.crop_start,
        "image_emb_start": 5,
        "image_emb_end": 5 + n,
        "image_emb_len": n,
    }
    ref = pipe(
        image=PIL.Image.fromarray(img),
        prompt=PROMPT,
        height=32,
        width=32,
        num_frames=5,
        num_inference_steps=3,
        guidance_scale=6.0,
        image_embed_interleave=4,
        prompt_template=template,
        generator=torch.Generator("cpu").manual_seed(8),
        output_type="np",
    ).frames[0]

    ours = vitascope.load_pipeline(root)
    assert ours.identity["layout"] == "tencent" and ours.dit.config.image_condition_type == "token_replace"
    assert ours.tasks == ("i2v",)  # the LLaVA encoder needs an image with every prompt
    from vitascope.pipelines.options import GenerationOptions

    res = ours.generate(
        GenerationOptions(
            prompt=PROMPT,
            task="i2v",
            image=str(tmp_path / "in.png"),
            height=32,
            width=32,
            frames=5,
            steps=3,
            seed=8,
        )
    )
    assert res.options.flow_shift == 7.0 and res.options.guidance == 6.0  # the official I2V defaults
    assert np.abs(res.video - ref).max() <= 1e-3
