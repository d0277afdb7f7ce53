"""The I2V text encoder: the full LLaVA (CLIP-ViT tower + projector + Llama-3) reads image and prompt.

Token layout, following diffusers' `HunyuanVideoImageToVideoPipeline._get_llama_prompt_embeds`, which
reproduces the official `TextEncoder.encode(..., i2v_mode=True)`:

    tokenized template (S0 = crop_start + max_length tokens, the one `<image>` at position P = 5):
        [BOS sys-header \\n\\n <image> \\n instruction <eot> \\n\\n user-header \\n\\n | prompt <eot> asst-header \\n\\n | pad]
                                                                                   ^ crop_start               ^ A
    expanded for the model: `<image>` -> N copies (N = 576 patches), so the sequence has S0 + N - 1 tokens.

    output = [ image states at P .. P+N, every `image_embed_interleave`-th ; text states ]
    text   = un-expanded positions [crop_start, A - 4) ++ [A, S0): the prompt, then (dropping
             `<eot> <start_header> assistant <end_header>`) the trailing "\\n\\n" and the padding.
    A is one past the last `<|end_header_id|>`; when truncation removed the assistant header, A = S0.

So states are [B, ceil(N / interleave) + max_length - 4, D]: 144 + 252 = 396 tokens for token_replace
(interleave 4) and 288 + 252 = 540 for latent_concat (interleave 2) with the real model.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from vitascope.errors import InputFileError, InvalidOptionError
from vitascope.models.text.common import (
    TextStates,
    load_model,
    load_tokenizer,
    resolve_folders,
    resolve_processor_folder,
)
from vitascope.models.text.llm import _as_list, _warn_if_truncated, hidden_state_index, resolve_crop_start
from vitascope.models.text.templates import PromptTemplate, get_template

log = logging.getLogger(__name__)

# The official code and diffusers drop `<eot> <start_header> assistant <end_header>` before the answer.
_ASSISTANT_HEADER_TOKENS = 4


def image_token_count(config) -> int:
    """Patch states one image contributes (576 for CLIP-L/14 at 336 px with the "default" strategy)."""
    vision = config.vision_config
    n = (vision.image_size // vision.patch_size) ** 2
    return n + 1 if config.vision_feature_select_strategy == "full" else n


def expand_image_tokens(
    ids: torch.Tensor, image_token_id: int, n_image: int, pad_token_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Replace the single `<image>` token of each row by `n_image` copies.

    ids: [B, S0] with exactly one image token per row. Returns (ids, mask, position_ids), each
    [B, S0 + n_image - 1]. Like diffusers (and the legacy LLaVA merge the official code relied on), the mask
    is "not a pad token" and positions count only unmasked tokens (masked ones get position 1).
    """
    counts = (ids == image_token_id).sum(dim=1)
    if not torch.all(counts == 1):
        raise InvalidOptionError(
            f"each tokenized prompt must hold exactly one <image> token, found {counts.tolist()}; "
            "use an I2V template and keep '<image>' out of the prompt text"
        )
    pos = (ids == image_token_id).int().argmax(dim=1)  # [B]
    rows = []
    for row, p in zip(ids, pos.tolist(), strict=True):
        fill = row.new_full((n_image,), image_token_id)
        rows.append(torch.cat([row[:p], fill, row[p + 1 :]]))
    expanded = torch.stack(rows)  # [B, S0 + N - 1]
    mask = (expanded != pad_token_id).long()
    position_ids = (mask.cumsum(-1) - 1).masked_fill_(mask == 0, 1)
    return expanded, mask, position_ids


def assistant_starts(ids: torch.Tensor, end_header_id: int) -> list[int]:
    """Per row, one past the last `<|end_header_id|>` (the assistant's "\\n\\n"), or S0 if truncation cut it.

    diffusers handles the truncated case for a single prompt only (it appends S0 - 1 when it finds two
    headers); doing it per row is the same there and also works for mixed batches.
    """
    starts = []
    for row in ids:
        where = (row == end_header_id).nonzero().flatten().tolist()
        starts.append(where[-1] + 1 if len(where) >= 3 else ids.shape[1])
    return starts


class LlavaI2VEncoder:
    """(prompts, images) -> TextStates with the image tokens first, as the I2V DiT expects."""

    def __init__(
        self,
        model,
        tokenizer,
        image_processor,
        template: str | PromptTemplate = "dit-llm-encode-video-i2v",
        max_length: int = 256,
        hidden_state_skip_layer: int = 2,
        image_embed_interleave: int = 4,
    ):
        self.template = get_template(template)
        if not self.template.is_i2v:
            raise InvalidOptionError(
                "LlavaI2VEncoder needs a template with an <image> slot, e.g. 'dit-llm-encode-video-i2v'"
            )
        if max_length <= _ASSISTANT_HEADER_TOKENS:
            raise InvalidOptionError(f"max_length must be > {_ASSISTANT_HEADER_TOKENS}, got {max_length}")
        n_layers = model.config.text_config.num_hidden_layers
        if not 0 <= hidden_state_skip_layer < n_layers:
            raise InvalidOptionError(
                f"hidden_state_skip_layer must be in [0, {n_layers}), got {hidden_state_skip_layer}"
            )
        if image_embed_interleave < 1:
            raise InvalidOptionError(
                "image_embed_interleave must be >= 1 (4: token_replace, 2: latent_concat)"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.max_length = max_length
        self.hidden_state_skip_layer = hidden_state_skip_layer
        self.image_embed_interleave = image_embed_interleave
        self.crop_start = resolve_crop_start(tokenizer, self.template)
        self.n_image = image_token_count(model.config)
        self.image_token_id = model.config.image_token_index
        # diffusers reads the pad id from the LLaVA config; fall back to the tokenizer's when it is absent.
        pad = getattr(model.config, "pad_token_id", None)
        self.pad_token_id = pad if pad is not None else tokenizer.pad_token_id
        self.end_header_id = tokenizer.convert_tokens_to_ids("<|end_header_id|>")
        if self.template.image_emb_len not in (None, self.n_image):
            log.debug(
                "template image_emb_len=%s, model gives %d image tokens: using the model's",
                self.template.image_emb_len,
                self.n_image,
            )

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        tokenizer_folder: str | Path | None = None,
        image_processor_folder: str | Path | None = None,
        template: str | PromptTemplate = "dit-llm-encode-video-i2v",
        max_length: int = 256,
        hidden_state_skip_layer: int = 2,
        image_embed_interleave: int = 4,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> LlavaI2VEncoder:
        """Load Tencent `text_encoder_i2v/` (tokenizer + preprocessor inside) or diffusers
        `text_encoder/` + `tokenizer/` + `image_processor/`."""
        from transformers import CLIPImageProcessor, LlavaForConditionalGeneration

        model_dir, tok_dir = resolve_folders(
            folder, tokenizer_folder, ("text_encoder_i2v", "text_encoder"), "LLaVA I2V text encoder"
        )
        proc_dir = resolve_processor_folder(model_dir, tok_dir, image_processor_folder)
        tokenizer = load_tokenizer(tok_dir, "LLaVA")
        processor = CLIPImageProcessor.from_pretrained(str(proc_dir))
        model = load_model(LlavaForConditionalGeneration, model_dir, "LLaVA I2V text encoder", device, dtype)
        return cls(
            model, tokenizer, processor, template, max_length, hidden_state_skip_layer, image_embed_interleave
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def n_image_states(self) -> int:
        """Image tokens kept after subsampling (144 for the real model with interleave 4)."""
        return len(range(0, self.n_image, self._step))

    @property
    def _step(self) -> int:
        # Both references subsample only for 0 < interleave < 6 and keep all 576 tokens otherwise.
        return self.image_embed_interleave if self.image_embed_interleave < 6 else 1

    def pixel_values(self, images) -> torch.Tensor:
        """CLIP preprocessing of uint8 [H, W, 3] arrays (or PIL images) -> [B, 3, h, w]."""
        out = self.image_processor(images=list(images), return_tensors="pt")["pixel_values"]
        return out.to(device=self.device, dtype=self.dtype)

    @torch.no_grad()
    def encode(self, prompts: list[str], images) -> TextStates:
        """One image per prompt (a single image is shared by all prompts)."""
        prompts = _as_list(prompts)
        images = _as_image_list(images, len(prompts))
        # 1. template + tokens (un-expanded): [B, S0]
        texts = [self.template.format(p) for p in prompts]
        total = self.crop_start + self.max_length
        batch = self.tokenizer(
            texts, max_length=total, padding="max_length", truncation=True, return_tensors="pt"
        )
        _warn_if_truncated(self.tokenizer, texts, total, "LLaVA")
        ids, text_mask = batch["input_ids"], batch["attention_mask"]
        # 2. expand <image> to N tokens and run LLaVA: [B, S0 + N - 1, D]
        x_ids, x_mask, x_pos = expand_image_tokens(ids, self.image_token_id, self.n_image, self.pad_token_id)
        # The inner LlavaModel gives the same hidden states as the full model without the LM head's
        # [B, S0 + N - 1, vocab] logits (240 MB in fp16 for the real model).
        core = getattr(self.model, "model", self.model)
        out = core(
            input_ids=x_ids.to(self.device),
            attention_mask=x_mask.to(self.device),
            position_ids=x_pos.to(self.device),
            pixel_values=self.pixel_values(images),
            output_hidden_states=True,
        )
        hidden = out.hidden_states[hidden_state_index(self.hidden_state_skip_layer)].to(self.dtype)
        # 3. split image and text states
        img_pos = (ids == self.image_token_id).int().argmax(dim=1).tolist()
        shift = self.n_image - 1  # un-expanded index i (after <image>) sits at i + shift in `hidden`
        text_states, text_masks, image_states = [], [], []
        for b, a in enumerate(assistant_starts(ids, self.end_header_id)):
            cut = a - _ASSISTANT_HEADER_TOKENS
            text_states.append(
                torch.cat([hidden[b, self.crop_start + shift : cut + shift], hidden[b, a + shift :]])
            )
            text_masks.append(torch.cat([text_mask[b, self.crop_start : cut], text_mask[b, a:]]))
            image_states.append(hidden[b, img_pos[b] : img_pos[b] + self.n_image : self._step])
        img = torch.stack(image_states)  # [B, N', D]
        img_mask = torch.ones(img.shape[:2], dtype=text_mask.dtype)
        states = torch.cat([img, torch.stack(text_states)], dim=1)  # [B, N' + max_length - 4, D]
        mask = torch.cat([img_mask, torch.stack(text_masks)], dim=1).to(self.device)
        return TextStates(states=states, mask=mask)


def _as_image_list(images, batch: int) -> list:
    if isinstance(images, np.ndarray) and images.ndim == 3 or not isinstance(images, (list, tuple)):
        images = [images]
    images = list(images)
    if len(images) == 1 and batch > 1:
        images = images * batch
    if len(images) != batch:
        raise InvalidOptionError(
            f"got {len(images)} images for {batch} prompts; pass one image per prompt (or one for all)"
        )
    for im in images:
        if isinstance(im, np.ndarray) and (im.dtype != np.uint8 or im.ndim != 3 or im.shape[-1] != 3):
            raise InputFileError(f"images must be uint8 [H, W, 3] arrays, got {im.dtype} {im.shape}")
    return images
