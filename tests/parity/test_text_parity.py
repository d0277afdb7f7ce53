"""Text encoders against diffusers' HunyuanVideo pipelines' own encode functions (tiny models, fp32).

The diffusers pipelines are built for real (transformer, VAE and scheduler left out) around the same
tokenizers and modules, and their `_get_llama_prompt_embeds` / `_get_clip_prompt_embeds` / `encode_prompt`
are the oracle.
"""

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import HunyuanVideoImageToVideoPipeline, HunyuanVideoPipeline

from _helpers import reseed_parameters
from vitascope.models.image import black_image_like
from vitascope.models.text import PROMPT_TEMPLATES, CLIPEncoder, LlavaI2VEncoder, LLMEncoder
from vitascope.models.text.tiny import (
    tiny_clip_text_model,
    tiny_clip_tokenizer,
    tiny_llama_model,
    tiny_llama_tokenizer,
    tiny_llava,
)

PROMPTS = ["a red circle moving right on a black background", "A small blue square slowly rotates."]
LONG = "a red circle moving right " * 20
TOL = 1e-5


@pytest.fixture(scope="module")
def t2v():
    tok, ctok = tiny_llama_tokenizer(), tiny_clip_tokenizer()
    llm = tiny_llama_model(len(tok), pad_token_id=tok.pad_token_id)
    clip = tiny_clip_text_model()
    reseed_parameters(llm, 1)
    reseed_parameters(clip, 2)
    pipe = HunyuanVideoPipeline(
        text_encoder=llm,
        tokenizer=tok,
        transformer=None,
        vae=None,
        scheduler=None,
        text_encoder_2=clip,
        tokenizer_2=ctok,
    )
    return pipe


@pytest.fixture(scope="module")
def i2v():
    model, tok, proc = tiny_llava()
    reseed_parameters(model, 3)
    pipe = HunyuanVideoImageToVideoPipeline(
        text_encoder=model,
        tokenizer=tok,
        transformer=None,
        vae=None,
        scheduler=None,
        text_encoder_2=None,
        tokenizer_2=None,
        image_processor=proc,
    )
    return pipe


def _as_dict(name, crop_start="keep", n_image=None):
    t = PROMPT_TEMPLATES[name]
    d = {"template": t.template}
    if crop_start == "keep":
        d["crop_start"] = t.crop_start
    elif crop_start is not None:
        d["crop_start"] = crop_start
    if n_image is not None:
        d.update(image_emb_start=5, image_emb_end=5 + n_image, image_emb_len=n_image)
    return d


def _close(ref_states, ref_mask, ours):
    assert ours.states.shape == ref_states.shape
    assert (ours.states - ref_states).abs().max().item() <= TOL
    assert ours.mask.dtype == ref_mask.dtype
    assert torch.equal(ours.mask, ref_mask)


@pytest.mark.parametrize("name", ["dit-llm-encode-video", "dit-llm-encode"])
@pytest.mark.parametrize("max_length", [32, 6])  # 6 truncates both prompts
def test_llm_matches_diffusers(t2v, name, max_length):
    ref, ref_mask = t2v._get_llama_prompt_embeds(
        PROMPTS, _as_dict(name), device="cpu", max_sequence_length=max_length
    )
    ours = LLMEncoder(t2v.text_encoder, t2v.tokenizer, name, max_length=max_length).encode(PROMPTS)
    _close(ref, ref_mask, ours)
    assert ours.states.shape == (2, max_length, 32)


def test_llm_measured_crop_start_matches_diffusers(t2v):
    """With crop_start=None diffusers measures the template; so do we (and agree with the declared 95)."""
    template = PROMPT_TEMPLATES["dit-llm-encode-video"].with_crop_start(None)
    ref, ref_mask = t2v._get_llama_prompt_embeds(
        PROMPTS, {"template": template.template}, device="cpu", max_sequence_length=16
    )
    enc = LLMEncoder(t2v.text_encoder, t2v.tokenizer, template, max_length=16)
    assert enc.crop_start == PROMPT_TEMPLATES["dit-llm-encode-video"].crop_start
    _close(ref, ref_mask, enc.encode(PROMPTS))


def test_encode_prompt_matches_diffusers(t2v):
    """The pipeline's public encode_prompt (default template, 77-token CLIP) against LLM + CLIP encoders."""
    states, pooled, mask = t2v.encode_prompt(PROMPTS + [LONG], device="cpu", max_sequence_length=24)
    ours = LLMEncoder(t2v.text_encoder, t2v.tokenizer, max_length=24).encode(PROMPTS + [LONG])
    _close(states, mask, ours)
    ours_pooled = CLIPEncoder(t2v.text_encoder_2, t2v.tokenizer_2).encode(PROMPTS + [LONG])
    assert ours_pooled.shape == pooled.shape == (3, 32)
    assert (ours_pooled - pooled).abs().max().item() <= TOL


def test_clip_truncates_like_diffusers(t2v):
    very_long = "a red circle moving right on a black background " * 12  # > 77 CLIP tokens
    ref = t2v._get_clip_prompt_embeds([very_long, PROMPTS[0]], device="cpu", max_sequence_length=77)
    ours = CLIPEncoder(t2v.text_encoder_2, t2v.tokenizer_2).encode([very_long, PROMPTS[0]])
    assert (ours - ref).abs().max().item() <= TOL


def _image(seed=0, h=40, w=56):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("interleave", [1, 2, 4, 6])
@pytest.mark.parametrize("prompt", [PROMPTS[0], LONG], ids=["fits", "truncated"])
def test_llava_i2v_matches_diffusers(i2v, interleave, prompt):
    enc = LlavaI2VEncoder(
        i2v.text_encoder, i2v.tokenizer, i2v.image_processor, max_length=24, image_embed_interleave=interleave
    )
    image = _image()
    # diffusers gets a PIL image, as its pipeline passes it; we take the uint8 array.
    ref, ref_mask = i2v._get_llama_prompt_embeds(
        PIL.Image.fromarray(image),
        [prompt],
        _as_dict("dit-llm-encode-video-i2v", n_image=enc.n_image),
        device="cpu",
        max_sequence_length=24,
        image_embed_interleave=interleave,
    )
    ours = enc.encode([prompt], image)
    _close(ref, ref_mask, ours)
    assert ours.states.shape[1] == enc.n_image_states + 24 - 4


def test_llava_i2v_batch_and_black_image_match_diffusers(i2v):
    """Two prompts with two images, and the unconditional pass on a black image (output-sized in diffusers)."""
    enc = LlavaI2VEncoder(i2v.text_encoder, i2v.tokenizer, i2v.image_processor, max_length=20)
    images = [_image(1), _image(2, 64, 48)]
    tpl = _as_dict("dit-llm-encode-video-i2v", n_image=enc.n_image)
    ref, ref_mask = i2v._get_llama_prompt_embeds(
        [PIL.Image.fromarray(im) for im in images],
        PROMPTS,
        tpl,
        device="cpu",
        max_sequence_length=20,
        image_embed_interleave=4,
    )
    _close(ref, ref_mask, enc.encode(PROMPTS, images))
    black = PIL.Image.new("RGB", (96, 64), 0)
    ref, ref_mask = i2v._get_llama_prompt_embeds(
        black, ["bad teeth"], tpl, device="cpu", max_sequence_length=20, image_embed_interleave=4
    )
    _close(ref, ref_mask, enc.encode(["bad teeth"], black_image_like(images[0])))
