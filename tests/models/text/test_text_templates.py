"""Prompt templates and the tiny offline tokenizers built to exercise them."""

import dataclasses
import json

import pytest

from vitascope.errors import InvalidOptionError
from vitascope.models.text import PROMPT_TEMPLATES, PromptTemplate, get_template
from vitascope.models.text.llm import measure_crop_start
from vitascope.models.text.tiny import tiny_clip_tokenizer, tiny_llama_tokenizer

PROMPT = "a red circle moving right on a black background"


@pytest.fixture(scope="module")
def tok():
    return tiny_llama_tokenizer()


def test_official_template_names_and_i2v_fields():
    assert set(PROMPT_TEMPLATES) >= {
        "dit-llm-encode",
        "dit-llm-encode-video",
        "dit-llm-encode-i2v",
        "dit-llm-encode-video-i2v",
    }
    for name, t in PROMPT_TEMPLATES.items():
        assert t.is_i2v == name.endswith("i2v")
        assert t.template.startswith("<|start_header_id|>system<|end_header_id|>\n\n")
        if t.is_i2v:
            assert (t.image_emb_start, t.image_emb_end, t.image_emb_len, t.double_return_token_id) == (
                5,
                581,
                576,
                271,
            )
            assert t.template.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROMPT_TEMPLATES["dit-llm-encode"].crop_start = 0


def test_tiny_tokenizer_measures_the_official_crop_starts(tok):
    """The tiny tokenizer splits like Llama-3, so the declared crop_starts hold for it too.

    The image-I2V template is the exception, as released: `<image>\\n` adds two tokens the constant ignores.
    """
    measured = {name: measure_crop_start(tok, t) for name, t in PROMPT_TEMPLATES.items()}
    assert measured == {
        "dit-llm-encode": 36,
        "dit-llm-encode-video": 95,
        "dit-llm-encode-i2v": 38,
        "dit-llm-encode-video-i2v": 103,
    }


def test_prompt_starts_at_crop_start(tok):
    for t in PROMPT_TEMPLATES.values():
        ids = tok(t.format(PROMPT))["input_ids"]
        start = measure_crop_start(tok, t)
        assert tok.decode(ids[start : start + 9]) == PROMPT
        assert ids[0] == tok.bos_token_id
        if t.is_i2v:
            assert ids.index(tok.convert_tokens_to_ids("<image>")) == 5


def test_template_validation_and_lookup():
    with pytest.raises(ValueError, match="placeholder"):
        PromptTemplate(template="no slot", crop_start=0)
    with pytest.raises(ValueError, match="image_emb_len"):
        PromptTemplate(
            template="<image>{}", crop_start=0, image_emb_start=1, image_emb_end=3, image_emb_len=3
        )
    with pytest.raises(InvalidOptionError, match="dit-llm-encode-video"):
        get_template("dit-llm-video")
    t = get_template("dit-llm-encode-video")
    assert t.with_crop_start(None).crop_start is None and t.crop_start == 95


def test_tiny_llama_tokenizer_is_deterministic_and_covers_prompts(tok):
    other = tiny_llama_tokenizer()
    assert json.loads(tok.backend_tokenizer.to_str()) == json.loads(other.backend_tokenizer.to_str())
    ids = tok(PROMPT, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(PROMPT.split())  # every word is one token
    for special in [
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
        "<image>",
        "<pad>",
        "{}",
        "\n\n",
    ]:
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1, special
    # Unknown words still round-trip (byte fallback), they just take more tokens.
    assert tok.decode(tok("zebra xylophone!", add_special_tokens=False)["input_ids"]) == "zebra xylophone!"
    assert tok.padding_side == "right" and tok.pad_token == "<pad>"


def test_tiny_chat_template_renders_the_t2v_template(tok):
    t = PROMPT_TEMPLATES["dit-llm-encode-video"]
    system = t.template.split("<|end_header_id|>\n\n", 1)[1].split("<|eot_id|>", 1)[0]
    rendered = tok.apply_chat_template(
        [{"role": "system", "content": system}, {"role": "user", "content": PROMPT}], tokenize=False
    )
    assert rendered == tok.bos_token + t.format(PROMPT)


def test_tiny_clip_tokenizer_from_vocab_and_merges(tmp_path):
    ctok = tiny_clip_tokenizer(tmp_path / "clip_tok")
    assert (tmp_path / "clip_tok" / "vocab.json").is_file() and (
        tmp_path / "clip_tok" / "merges.txt"
    ).is_file()
    ids = ctok("A Red circle, moving!")["input_ids"]
    tokens = ctok.convert_ids_to_tokens(ids)
    assert tokens == [
        "<|startoftext|>",
        "a</w>",
        "red</w>",
        "circle</w>",
        ",</w>",
        "moving</w>",
        "!</w>",
        "<|endoftext|>",
    ]
    assert ctok.unk_token_id not in ctok("zebra ~ 42")["input_ids"][1:-1]
    padded = ctok([PROMPT], padding="max_length", max_length=77)["input_ids"][0]
    assert len(padded) == 77 and padded[-1] == ctok.pad_token_id
