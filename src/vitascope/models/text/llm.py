"""The LLM text encoder (LLaVA-Llama-3-8B's language model) over `transformers`.

What the DiT receives, as the official encoder and diffusers' `_get_llama_prompt_embeds` compute it:
1. the prompt is put into a Llama-3 chat template (`templates.py`);
2. it is tokenized to exactly `max_length + crop_start` tokens (right padding, truncation);
3. the LlamaModel runs with the attention mask, and `hidden_states[-(skip + 1)]` is taken: with skip=2 the
   output of the third-from-last layer, with no final norm (`apply_final_norm=False` in the official code);
4. the first `crop_start` positions (the instruction) are cut from states and mask -> [B, max_length, D].
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from vitascope.errors import InvalidOptionError
from vitascope.models.text.common import TextStates, load_model, load_tokenizer, resolve_folders
from vitascope.models.text.templates import PromptTemplate, get_template

log = logging.getLogger(__name__)


def measure_crop_start(tokenizer, template: PromptTemplate) -> int:
    """Number of tokens before the prompt, BOS included, counted in the un-expanded sequence.

    diffusers counts the whole template and subtracts the tokens after `{}` (2 for the T2V templates).
    Counting the prefix instead gives the same number there, and stays right for the I2V templates, where
    diffusers' "- 5" rule is one short of the official 103 (the trailing "\\n\\n" is a sixth token).
    """
    return len(tokenizer(template.prefix)["input_ids"])


def resolve_crop_start(tokenizer, template: PromptTemplate) -> int:
    """The template's declared crop_start (as diffusers uses it), or the measured one when it has none."""
    measured = measure_crop_start(tokenizer, template)
    if template.crop_start is None:
        return measured
    if template.crop_start != measured:
        log.warning(
            "prompt template declares crop_start=%d but this tokenizer puts the prompt at token %d; using %d as "
            "the official code does (pass template.with_crop_start(None) to use the measured value)",
            template.crop_start,
            measured,
            template.crop_start,
        )
    return template.crop_start


def hidden_state_index(skip: int) -> int:
    return -(skip + 1)


class LLMEncoder:
    """Prompt -> TextStates ([B, max_length, D] states, [B, max_length] mask)."""

    def __init__(
        self,
        model,
        tokenizer,
        template: str | PromptTemplate = "dit-llm-encode-video",
        max_length: int = 256,
        hidden_state_skip_layer: int = 2,
    ):
        if max_length < 1:
            raise InvalidOptionError(f"max_length must be >= 1, got {max_length}")
        n_layers = model.config.num_hidden_layers
        if not 0 <= hidden_state_skip_layer < n_layers:
            raise InvalidOptionError(
                f"hidden_state_skip_layer must be in [0, {n_layers}), got {hidden_state_skip_layer}"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.template = get_template(template)
        if self.template.is_i2v:
            raise InvalidOptionError("template with an <image> slot needs LlavaI2VEncoder, not LLMEncoder")
        self.max_length = max_length
        self.hidden_state_skip_layer = hidden_state_skip_layer
        self.crop_start = resolve_crop_start(tokenizer, self.template)

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        tokenizer_folder: str | Path | None = None,
        template: str | PromptTemplate = "dit-llm-encode-video",
        max_length: int = 256,
        hidden_state_skip_layer: int = 2,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> LLMEncoder:
        """Load from Tencent `text_encoder/` (tokenizer inside) or diffusers `text_encoder/` + `tokenizer/`."""
        from transformers import AutoModel

        model_dir, tok_dir = resolve_folders(folder, tokenizer_folder, ("text_encoder",), "LLM text encoder")
        tokenizer = load_tokenizer(tok_dir, "LLM")
        # AutoModel gives the bare LlamaModel (no LM head), as the official loader does.
        model = load_model(AutoModel, model_dir, "LLM text encoder", device, dtype)
        return cls(model, tokenizer, template, max_length, hidden_state_skip_layer)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Template + tokenizer -> (input_ids, attention_mask), both [B, crop_start + max_length]."""
        texts = [self.template.format(p) for p in _as_list(prompts)]
        total = self.crop_start + self.max_length
        batch = self.tokenizer(
            texts, max_length=total, padding="max_length", truncation=True, return_tensors="pt"
        )
        _warn_if_truncated(self.tokenizer, texts, total, "LLM")
        return batch["input_ids"], batch["attention_mask"]

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> TextStates:
        ids, mask = self.tokenize(prompts)  # [B, S0], S0 = crop_start + max_length
        ids, mask = ids.to(self.device), mask.to(self.device)
        out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        states = out.hidden_states[hidden_state_index(self.hidden_state_skip_layer)]  # [B, S0, D]
        states = states[:, self.crop_start :]  # [B, S, D]
        return TextStates(states=states.to(self.dtype), mask=mask[:, self.crop_start :])


def _as_list(prompts) -> list[str]:
    if isinstance(prompts, str):
        return [prompts]
    prompts = list(prompts)
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise InvalidOptionError("prompts must be a non-empty list of strings")
    return prompts


def _warn_if_truncated(tokenizer, texts: list[str], max_len: int, what: str) -> None:
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    if max(lengths) > max_len:
        log.warning(
            "%s prompt of %d tokens was cut to %d; the end of the prompt is ignored",
            what,
            max(lengths),
            max_len,
        )
