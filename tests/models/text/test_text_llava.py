"""The LLaVA I2V encoder: token layout, image/text separation, loading."""

import numpy as np
import pytest
import torch

from vitascope.errors import ModelFolderError
from vitascope.models.image import black_image_like
from vitascope.models.text import LlavaI2VEncoder
from vitascope.models.text.llava import assistant_starts, expand_image_tokens
from vitascope.models.text.tiny import tiny_llava, write_tiny_text_encoders

PROMPT = "a red circle moving right on a black background"


@pytest.fixture(scope="module")
def parts():
    return tiny_llava(seed=5)


def _enc(parts, **kw):
    model, tok, proc = parts
    return LlavaI2VEncoder(model, tok, proc, max_length=kw.pop("max_length", 20), **kw)


def _img(seed):
    return np.random.default_rng(seed).integers(0, 256, (30, 50, 3), dtype=np.uint8)


def test_expand_image_tokens():
    ids = torch.tensor([[1, 9, 2, 3, 0, 0], [1, 2, 9, 3, 4, 0]])
    x, mask, pos = expand_image_tokens(ids, image_token_id=9, n_image=3, pad_token_id=0)
    assert x.tolist() == [[1, 9, 9, 9, 2, 3, 0, 0], [1, 2, 9, 9, 9, 3, 4, 0]]
    assert mask.tolist() == [[1, 1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1, 0]]
    assert pos.tolist() == [[0, 1, 2, 3, 4, 5, 1, 1], [0, 1, 2, 3, 4, 5, 6, 1]]
    with pytest.raises(ValueError, match="exactly one <image>"):
        expand_image_tokens(torch.tensor([[1, 2, 3]]), 9, 3, 0)


def test_assistant_start_falls_back_to_length_when_truncated():
    ids = torch.tensor([[7, 5, 7, 5, 7, 5, 0], [7, 5, 1, 7, 5, 1, 1]])
    assert assistant_starts(ids, end_header_id=5) == [6, 7]


def test_layout_image_tokens_first_then_prompt(parts):
    enc = _enc(parts)
    assert enc.n_image == 16 and enc.n_image_states == 4
    out = enc.encode([PROMPT], _img(0))
    assert out.states.shape == (1, 4 + 20 - 4, 32)
    # 4 image tokens, the 9 prompt words, <|eot_id|> is dropped with the assistant header, "\n\n" kept
    assert out.mask[0].tolist() == [1] * 4 + [1] * 9 + [1] + [0] * 6
    # changing only the image changes the image part; the text part sees the image through attention
    other = enc.encode([PROMPT], _img(1))
    assert not torch.allclose(out.states[:, :4], other.states[:, :4])
    # changing only the prompt leaves the image states alone (they come before the prompt, causal LM)
    text2 = enc.encode(["a blue square"], _img(0))
    assert torch.allclose(out.states[:, :4], text2.states[:, :4], atol=1e-6)
    assert not torch.allclose(out.states[:, 4:6], text2.states[:, 4:6])


def test_interleave_subsamples_the_same_image_states(parts):
    full = _enc(parts, image_embed_interleave=1).encode([PROMPT], _img(0))
    for step in (2, 4):
        sub = _enc(parts, image_embed_interleave=step).encode([PROMPT], _img(0))
        assert torch.allclose(sub.states[:, : 16 // step], full.states[:, :16:step], atol=1e-6)
        assert torch.allclose(sub.states[:, 16 // step :], full.states[:, 16:], atol=1e-6)
    assert _enc(parts, image_embed_interleave=6).n_image_states == 16  # >= 6 keeps all, as both references do


def test_truncated_prompt_keeps_fixed_length(parts):
    out = _enc(parts).encode(["a red circle " * 20], _img(0))
    assert out.states.shape == (1, 20, 32) and out.mask.all()


def test_one_image_is_shared_and_black_image(parts):
    enc = _enc(parts)
    img = _img(2)
    both = enc.encode([PROMPT, "a cat"], img)
    assert torch.allclose(both.states[0], enc.encode([PROMPT], img).states[0], atol=1e-6)
    black = black_image_like(img)
    assert black.shape == img.shape and black.dtype == np.uint8 and not black.any()
    neg = enc.encode(["bad teeth"], black)
    assert neg.states.shape == (1, 20, 32)
    with pytest.raises(ValueError, match="one image per prompt"):
        enc.encode([PROMPT, "a", "b"], [img, img])
    with pytest.raises(ValueError, match="uint8"):
        enc.encode([PROMPT], img.astype(np.float32))


def test_rejects_t2v_template(parts):
    with pytest.raises(ValueError, match="<image>"):
        _enc(parts, template="dit-llm-encode-video")


@pytest.mark.parametrize("layout", ["tencent", "diffusers"])
def test_from_folder_both_layouts(tmp_path, layout):
    root = write_tiny_text_encoders(tmp_path, layout, i2v=True, seed=0)
    enc = LlavaI2VEncoder.from_folder(root, max_length=12)
    ref_model, tok, proc = tiny_llava(seed=2)  # write_tiny_text_encoders uses seed + 2 for the LLaVA
    ref = LlavaI2VEncoder(ref_model, tok, proc, max_length=12)
    assert torch.equal(enc.encode([PROMPT], _img(3)).states, ref.encode([PROMPT], _img(3)).states)
    if layout == "diffusers":
        (root / "image_processor" / "preprocessor_config.json").unlink()
        with pytest.raises(ModelFolderError, match="preprocessor_config"):
            LlavaI2VEncoder.from_folder(root / "text_encoder")
