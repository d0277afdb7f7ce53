"""LLM and CLIP encoders: what they compute, and loading from both checkpoint layouts."""

import copy
import logging
import shutil

import pytest
import torch

from vitascope.errors import ModelFolderError
from vitascope.models.text import PROMPT_TEMPLATES, CLIPEncoder, LLMEncoder, TextStates
from vitascope.models.text.tiny import tiny_llama_model, tiny_llama_tokenizer, write_tiny_text_encoders

PROMPTS = ["a red circle moving right on a black background", "a cat"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_te")
    return {
        "tencent": write_tiny_text_encoders(root / "tencent", "tencent", seed=0),
        "diffusers": write_tiny_text_encoders(root / "diffusers", "diffusers", seed=0),
    }


@pytest.fixture(scope="module")
def enc():
    tok = tiny_llama_tokenizer()
    return LLMEncoder(tiny_llama_model(len(tok), seed=3), tok, max_length=16)


def test_states_are_third_from_last_layer_without_final_norm(enc):
    """Independent check: cut the last two decoder layers and the final norm; the last state must match."""
    out = enc.encode(PROMPTS)
    cut = copy.deepcopy(enc.model)
    cut.layers = cut.layers[:-2]
    cut.norm = torch.nn.Identity()
    ids, mask = enc.tokenize(PROMPTS)
    ref = cut(input_ids=ids, attention_mask=mask).last_hidden_state[:, enc.crop_start :]
    assert torch.allclose(out.states, ref, atol=1e-6)
    full = enc.model(input_ids=ids, attention_mask=mask).last_hidden_state[:, enc.crop_start :]
    assert not torch.allclose(out.states, full, atol=1e-3)


def test_crop_keeps_prompt_tokens_and_mask(enc):
    out = enc.encode(PROMPTS)
    assert isinstance(out, TextStates) and out.states.shape == (2, 16, 32) and out.mask.dtype == torch.int64
    ids, _ = enc.tokenize(PROMPTS)
    first = ids[:, enc.crop_start]
    words = [enc.tokenizer(p, add_special_tokens=False)["input_ids"][0] for p in PROMPTS]
    assert first.tolist() == words
    # prompt words + <|eot_id|> are valid, the rest is right padding
    assert out.mask.sum(1).tolist() == [len(p.split()) + 1 for p in PROMPTS]
    assert out.mask[0, :10].all() and not out.mask[0, 10:].any()


def test_valid_states_do_not_depend_on_batch_padding(enc):
    alone = enc.encode([PROMPTS[1]])
    batched = enc.encode(PROMPTS)
    n = int(alone.mask.sum())
    assert torch.allclose(alone.states[0, :n], batched.states[1, :n], atol=1e-6)


def test_max_length_truncates(enc, caplog):
    long = "a red circle moving right " * 10
    with caplog.at_level(logging.WARNING):
        out = enc.encode([long])
    assert out.states.shape == (1, 16, 32) and out.mask.all()
    assert "cut to" in caplog.text
    short = LLMEncoder(enc.model, enc.tokenizer, max_length=4).encode([long])
    assert torch.allclose(short.states, out.states[:, :4], atol=1e-6)  # causal: a prefix of the same states


def test_declared_crop_start_mismatch_is_reported(enc, caplog):
    odd = PROMPT_TEMPLATES["dit-llm-encode-video"].with_crop_start(90)
    with caplog.at_level(logging.WARNING):
        e = LLMEncoder(enc.model, enc.tokenizer, odd, max_length=8)
    assert e.crop_start == 90 and "95" in caplog.text
    assert LLMEncoder(enc.model, enc.tokenizer, odd.with_crop_start(None), max_length=8).crop_start == 95


@pytest.mark.parametrize("layout", ["tencent", "diffusers"])
def test_from_folder_both_layouts_give_the_same_states(folders, layout):
    root = folders[layout]
    llm = LLMEncoder.from_folder(root / "text_encoder", max_length=16)
    clip = CLIPEncoder.from_folder(root / "text_encoder_2")
    ref_llm = LLMEncoder.from_folder(folders["tencent"] / "text_encoder", max_length=16)
    assert torch.equal(llm.encode(PROMPTS).states, ref_llm.encode(PROMPTS).states)
    pooled = clip.encode(PROMPTS)
    assert pooled.shape == (2, 32) and clip.dim == 32
    both = llm.encode(PROMPTS).with_pooled(pooled).to(dtype=torch.float64)
    assert both.pooled.dtype == torch.float64 and both.mask.dtype == torch.int64
    with pytest.raises(ValueError, match="pooled"):
        llm.encode(PROMPTS).with_pooled(pooled[:1])
    # the checkpoint root works too
    assert torch.equal(
        LLMEncoder.from_folder(root, max_length=16).encode(PROMPTS).states, llm.encode(PROMPTS).states
    )
    assert torch.equal(CLIPEncoder.from_folder(root).encode(PROMPTS), pooled)


def test_from_folder_dtype_and_explicit_tokenizer_folder(folders):
    root = folders["diffusers"]
    enc = LLMEncoder.from_folder(
        root / "text_encoder", tokenizer_folder=root / "tokenizer", max_length=8, dtype=torch.bfloat16
    )
    assert enc.encode(PROMPTS).states.dtype == torch.bfloat16


def test_clear_errors_for_bad_folders(folders, tmp_path):
    with pytest.raises(ModelFolderError, match="does not exist"):
        LLMEncoder.from_folder(tmp_path / "nope")
    with pytest.raises(ModelFolderError, match="config.json"):
        CLIPEncoder.from_folder(tmp_path)
    bare = tmp_path / "text_encoder"
    shutil.copytree(folders["diffusers"] / "text_encoder", bare)  # no tokenizer inside, no sibling
    with pytest.raises(ModelFolderError, match="no tokenizer"):
        LLMEncoder.from_folder(bare)
    with pytest.raises(ModelFolderError, match="tokenizer folder"):
        LLMEncoder.from_folder(bare, tokenizer_folder=tmp_path / "empty")


def test_causal_lm_checkpoint_loads_as_base_model(tmp_path):
    """Tencent's text_encoder/ is LLaVA's language model saved as LlamaForCausalLM (keys `model.*` +
    `lm_head`); AutoModel must strip it to the LlamaModel and give the same states."""
    from transformers import LlamaForCausalLM

    tok = tiny_llama_tokenizer()
    base = tiny_llama_model(len(tok), seed=4)
    lm = LlamaForCausalLM(base.config)
    lm.model.load_state_dict(base.state_dict())
    lm.save_pretrained(tmp_path / "text_encoder")
    tok.save_pretrained(tmp_path / "text_encoder")
    loaded = LLMEncoder.from_folder(tmp_path / "text_encoder", max_length=8)
    assert type(loaded.model).__name__ == "LlamaModel"
    assert torch.equal(
        loaded.encode(PROMPTS).states, LLMEncoder(base, tok, max_length=8).encode(PROMPTS).states
    )
