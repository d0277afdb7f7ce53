"""Tiny, offline text encoders for tests and the bundled demo model.

Nothing here touches the network: the tokenizers are trained in memory with the `tokenizers` library over a
small English corpus (the Hunyuan templates plus a word list that covers simple scene prompts), and the
models are random `transformers` modules a few kilobytes big. Every builder is deterministic for a seed.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from vitascope.models.text.templates import NEGATIVE_PROMPT, NEGATIVE_PROMPT_I2V, PROMPT_TEMPLATES

if TYPE_CHECKING:
    import transformers

log = logging.getLogger(__name__)

# Words a demo prompt is likely to use; unknown words still tokenize (byte fallback), just into more pieces.
_WORDS = """
a an the and or of on in at to from with without over under above below behind into onto through across
around toward towards near far left right up down top bottom center middle side sides edge corner
is are was be being moving moves move slowly quickly fast slow rotating rotates spinning spins bouncing
bounces sliding slides falling falls rising rises growing grows shrinking shrinks drifting drifts
flying flies rolling rolls jumping jumps walking walks running runs turning turns orbiting orbits
red green blue yellow orange purple pink white black gray grey brown cyan magenta gold silver dark light
bright pale colorful striped dotted
circle circles square squares triangle triangles ball balls box boxes cube cubes star stars line lines
dot dots shape shapes ring rings disk disc rectangle rectangles sphere object objects pattern grid
background foreground scene frame video image camera shot view close wide zoom zooms pan pans
small large big tiny huge little one two three four five several many some each both other another
sky sea water ground grass tree trees road city street room wall floor table cat dog bird car person man
woman child people face hand sun moon cloud clouds rain snow light fire smoke
day night morning evening sunset sunrise outdoor indoor
smooth soft sharp blurry high low quality cinematic realistic static still steady gentle
while then as it its this that these there which who
""".split()

_LLAMA_SPECIALS = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<image>",
    "<pad>",
)
# Llama-3 style pre-tokenization: words keep their leading space, newline runs are their own piece.
_LLAMA_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Renders [system, user] messages as the Hunyuan templates do (Llama-3 chat format).
_LLAMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>"
    "\n\n{{ message['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def _corpus() -> list[str]:
    """Sentences the tiny tokenizers are trained on (each word also capitalised and after a space)."""
    lines = [t.template.replace("{}", " ") for t in PROMPT_TEMPLATES.values()]
    lines += [NEGATIVE_PROMPT, NEGATIVE_PROMPT_I2V, "{}"]
    for word in _WORDS:
        lines += [word, " " + word, word.capitalize(), " " + word.capitalize()]
    return lines


def _train_bpe(tokenizer, special_tokens: list[str], end_of_word_suffix: str | None = None):
    from tokenizers import pre_tokenizers, trainers

    kwargs = {"end_of_word_suffix": end_of_word_suffix} if end_of_word_suffix else {}
    trainer = trainers.BpeTrainer(
        vocab_size=4000,  # larger than needed, so training stops when every corpus word is one token
        min_frequency=1,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
        **kwargs,
    )
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    return tokenizer


@functools.lru_cache(maxsize=1)
def _llama_tokenizer_json() -> str:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_LLAMA_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    _train_bpe(tok, list(_LLAMA_SPECIALS))
    bos = "<|begin_of_text|>"
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
    )
    return tok.to_str()


def tiny_llama_tokenizer() -> transformers.PreTrainedTokenizerBase:
    """A Llama-3-like byte-level BPE tokenizer (~1k tokens) that pads on the right with `<pad>`."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_llama_tokenizer_json()),
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<pad>",
        padding_side="right",
        chat_template=_LLAMA_CHAT_TEMPLATE,
        extra_special_tokens={"image_token": "<image>"},
    )


@functools.lru_cache(maxsize=1)
def _clip_vocab_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPTokenizer

    # Borrow the normaliser and pre-tokenizer that CLIPTokenizer itself builds, so the merges fit it.
    reference = CLIPTokenizer().backend_tokenizer
    tok = Tokenizer(models.BPE(end_of_word_suffix="</w>", continuing_subword_prefix=""))
    tok.normalizer = reference.normalizer
    tok.pre_tokenizer = reference.pre_tokenizer
    _train_bpe(tok, ["<|startoftext|>", "<|endoftext|>"], end_of_word_suffix="</w>")
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    vocab = dict(model["vocab"])
    # Like the real CLIP vocab, every byte also exists as a word end ("!</w>"), so nothing maps to unk.
    for char in pre_tokenizers.ByteLevel.alphabet():
        vocab.setdefault(char + "</w>", len(vocab))
    return vocab, merges


def tiny_clip_tokenizer(folder: str | Path | None = None) -> transformers.PreTrainedTokenizerBase:
    """A CLIPTokenizer whose vocab.json and merges.txt are written to `folder` (a temp dir if None)."""
    import json
    import tempfile

    from transformers import CLIPTokenizer

    vocab, merges = _clip_vocab_merges()
    folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="tiny_clip_tok_"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return CLIPTokenizer(
        vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"), model_max_length=77
    )


def tiny_llama_model(vocab_size: int, hidden: int = 32, layers: int = 4, seed: int = 0, pad_token_id=None):
    """A random LlamaModel (the encoder loads the base model, as the official code's AutoModel does)."""
    import torch
    from transformers import LlamaConfig, LlamaModel

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=pad_token_id,
        rope_theta=500000.0,
    )
    torch.manual_seed(seed)
    return LlamaModel(config).eval()


def tiny_clip_text_model(seed: int = 0, vocab_size: int | None = None, hidden: int = 32):
    """A random CLIPTextModel; its pooled output is `hidden`-dimensional (no projection, as diffusers uses)."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer_vocab, _ = _clip_vocab_merges()
    vocab_size = vocab_size or len(tokenizer_vocab)
    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        projection_dim=hidden,
        bos_token_id=tokenizer_vocab["<|startoftext|>"],
        eos_token_id=tokenizer_vocab["<|endoftext|>"],
        pad_token_id=tokenizer_vocab["<|endoftext|>"],
    )
    torch.manual_seed(seed)
    return CLIPTextModel(config).eval()


def tiny_image_processor(image_size: int = 32):
    """CLIPImageProcessor with the CLIP-L/336 recipe (short side, center crop, CLIP mean/std) at `image_size`."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        do_center_crop=True,
        do_resize=True,
        do_normalize=True,
        do_convert_rgb=True,
    )


def tiny_llava(seed: int = 0, hidden: int = 32, layers: int = 4, image_size: int = 32, patch_size: int = 8):
    """(LlavaForConditionalGeneration, tokenizer, image processor) with a tiny CLIP vision tower.

    The tower yields (image_size / patch_size)^2 patch states (16 by default; 576 in the real model) after
    dropping CLS, as LLaVA's "default" feature strategy does.
    """
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    tokenizer = tiny_llama_tokenizer()
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    text_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        rope_theta=500000.0,
    )
    vision_config = CLIPVisionConfig(
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=patch_size,
        projection_dim=hidden,
    )
    config = LlavaConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=image_token,
        image_seq_length=(image_size // patch_size) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    # diffusers' I2V pipeline reads pad_token_id from the top-level config, as the hub checkpoints have it.
    config.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    return model, tokenizer, tiny_image_processor(image_size)


def write_tiny_text_encoders(
    folder: str | Path,
    layout: Literal["tencent", "diffusers"] = "tencent",
    i2v: bool = False,
    seed: int = 0,
) -> Path:
    """Save tiny text encoders under `folder` in the sub-folders a real checkpoint uses.

    tencent:   text_encoder/ (LlamaModel + tokenizer), text_encoder_2/ (CLIP + tokenizer),
               and with i2v text_encoder_i2v/ (LLaVA + tokenizer + preprocessor_config.json).
    diffusers: text_encoder/ + tokenizer/, text_encoder_2/ + tokenizer_2/; with i2v the LLaVA replaces the
               LlamaModel in text_encoder/ and its processor goes to image_processor/.
    """
    if layout not in ("tencent", "diffusers"):
        raise ValueError(f"layout must be 'tencent' or 'diffusers', got {layout!r}")
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    llama_tok = tiny_llama_tokenizer()
    clip_tok = tiny_clip_tokenizer()
    clip = tiny_clip_text_model(seed=seed + 1)
    llm = tiny_llama_model(len(llama_tok), seed=seed, pad_token_id=llama_tok.pad_token_id)

    def save(obj, sub: str) -> None:
        obj.save_pretrained(root / sub)

    if layout == "tencent":
        save(llm, "text_encoder")
        save(llama_tok, "text_encoder")
        save(clip, "text_encoder_2")
        save(clip_tok, "text_encoder_2")
        if i2v:
            llava, tok, proc = tiny_llava(seed=seed + 2)
            for obj in (llava, tok, proc):
                save(obj, "text_encoder_i2v")
    else:
        if i2v:
            llava, tok, proc = tiny_llava(seed=seed + 2)
            save(llava, "text_encoder")
            save(proc, "image_processor")
        else:
            save(llm, "text_encoder")
        save(llama_tok, "tokenizer")
        save(clip, "text_encoder_2")
        save(clip_tok, "tokenizer_2")
    log.info("wrote tiny %s text encoders (i2v=%s) to %s", layout, i2v, root)
    return root
