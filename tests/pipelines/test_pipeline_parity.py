"""Whole pipelines against diffusers: a tiny pipeline saved with diffusers' own save_pretrained loads in
vitascope and gives the same frames for the same prompt and seed."""

import numpy as np
import pytest
import torch
from pipe_builders import tiny_diffusers_i2v, tiny_diffusers_t2v

import vitascope
from vitascope.models.text import PROMPT_TEMPLATES
from vitascope.models.text.llava import image_token_count
from vitascope.pipelines.options import GenerationOptions

PROMPT = "a red circle moving right on a black background"
TOL = 1e-3


@pytest.fixture(scope="module")
def t2v(tmp_path_factory):
    pipe = tiny_diffusers_t2v(shift=7.0)
    folder = tmp_path_factory.mktemp("hv_t2v")
    pipe.save_pretrained(folder)
    return pipe, folder


def _ref(pipe, seed, **kw):
    g = torch.Generator("cpu").manual_seed(seed)
    return pipe(generator=g, output_type="np", **kw).frames[0]  # [F, H, W, 3] float in [0, 1]


@pytest.mark.parametrize("cfg", [1.0, 2.5])
def test_t2v_frames_match_diffusers(t2v, cfg):
    pipe, folder = t2v
    kw = dict(height=32, width=48, num_frames=5, num_inference_steps=3, guidance_scale=6.0)
    neg = "blurry, static"
    ref = _ref(pipe, 7, prompt=PROMPT, negative_prompt=neg if cfg > 1 else None, true_cfg_scale=cfg, **kw)
    ours = vitascope.load_pipeline(folder)
    assert ours.identity["layout"] == "diffusers" and ours.defaults.flow_shift == 7.0
    res = ours.generate(
        GenerationOptions(
            prompt=PROMPT,
            negative_prompt=neg,
            height=32,
            width=48,
            frames=5,
            steps=3,
            seed=7,
            guidance=6.0,
            cfg_scale=cfg,
        )
    )
    assert res.video.shape == ref.shape == (5, 32, 48, 3)
    err = np.abs(res.video - ref).max()
    assert err <= TOL, err
    assert res.video.std() > 0.01  # a real picture, not a constant


def test_long_video_uses_diffusers_vae_windows(t2v):
    """21 frames > one 16-frame VAE window: with `vae_decode="windows"` (what "auto" picks when the whole decode
    does not fit in memory) the decode windows and blends as diffusers' tiled decode does."""
    pipe, folder = t2v
    ref = _ref(
        pipe, 4, prompt=PROMPT, height=32, width=32, num_frames=21, num_inference_steps=2, guidance_scale=6.0
    )
    ours = vitascope.load_pipeline(folder)
    ours.vae_decode = "windows"
    res = ours.generate(
        GenerationOptions(prompt=PROMPT, height=32, width=32, frames=21, steps=2, seed=4, guidance=6.0)
    )
    assert res.video.shape == ref.shape == (21, 32, 32, 3)
    assert np.abs(res.video - ref).max() <= TOL


def test_seed_changes_the_video(t2v):
    _, folder = t2v
    pipe = vitascope.load_pipeline(folder)
    a = pipe.generate(GenerationOptions(prompt=PROMPT, height=32, width=32, frames=5, steps=2, seed=1)).video
    b = pipe.generate(GenerationOptions(prompt=PROMPT, height=32, width=32, frames=5, steps=2, seed=2)).video
    c = pipe.generate(GenerationOptions(prompt=PROMPT, height=32, width=32, frames=5, steps=2, seed=1)).video
    assert np.abs(a - b).max() > 1e-3 and np.array_equal(a, c)


@pytest.mark.parametrize("kind", ["token_replace", "latent_concat"])
def test_i2v_frames_match_diffusers(tmp_path, kind):
    import PIL.Image

    pipe = tiny_diffusers_i2v(kind)
    pipe.save_pretrained(tmp_path / "hv")
    rng = np.random.default_rng(0)
    img = (rng.random((32, 48, 3)) * 255).astype(np.uint8)
    PIL.Image.fromarray(img).save(tmp_path / "in.png")
    frames = 9
    # diffusers' default template hard-codes LLaVA-L/336's 576 image tokens; state the tiny tower's count
    n = image_token_count(pipe.text_encoder.config)
    t = PROMPT_TEMPLATES["dit-llm-encode-video-i2v"]
    template = {
        "template": t.template,
        "crop_start": t.crop_start,
        "image_emb_start": 5,
        "image_emb_end": 5 + n,
        "image_emb_len": n,
    }
    ref = _ref(
        pipe,
        5,
        image=PIL.Image.fromarray(img),
        prompt=PROMPT,
        height=32,
        width=48,
        num_frames=frames,
        num_inference_steps=3,
        guidance_scale=6.0,
        image_embed_interleave=4 if kind == "token_replace" else 2,
        prompt_template=template,
    )
    ours = vitascope.load_pipeline(tmp_path / "hv")
    res = ours.generate(
        GenerationOptions(
            prompt=PROMPT,
            task="i2v",
            image=str(tmp_path / "in.png"),
            height=32,
            width=48,
            frames=frames,
            steps=3,
            seed=5,
            guidance=6.0,
            i2v_stability=True,
        )
    )
    assert res.video.shape == ref.shape
    err = np.abs(res.video - ref).max()
    assert err <= TOL, err
