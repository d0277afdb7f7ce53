"""The CLIP-L text encoder: prompt -> pooled vector [B, 768] that joins the DiT's modulation vector.

As diffusers' `_get_clip_prompt_embeds`: no template, 77 tokens padded to max length and truncated, and
`pooler_output` of CLIPTextModel (the final-norm state at the EOS token, no projection). The official code
also passes the attention mask; CLIP's causal attention means the EOS state never sees the padding after
it, so both give the same vector.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from vitascope.errors import InvalidOptionError
from vitascope.models.text.common import load_model, load_tokenizer, resolve_folders
from vitascope.models.text.llm import _as_list, _warn_if_truncated

log = logging.getLogger(__name__)


class CLIPEncoder:
    def __init__(self, model, tokenizer, max_length: int = 77):
        if not 2 <= max_length <= model.config.max_position_embeddings:
            raise InvalidOptionError(
                f"CLIP max_length must be in [2, {model.config.max_position_embeddings}], got {max_length}"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        tokenizer_folder: str | Path | None = None,
        max_length: int = 77,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> CLIPEncoder:
        """Load from Tencent `text_encoder_2/` (tokenizer inside) or diffusers `text_encoder_2/` + `tokenizer_2/`."""
        from transformers import CLIPTextModel

        model_dir, tok_dir = resolve_folders(
            folder, tokenizer_folder, ("text_encoder_2",), "CLIP text encoder"
        )
        tokenizer = load_tokenizer(tok_dir, "CLIP")
        model = load_model(CLIPTextModel, model_dir, "CLIP text encoder", device, dtype)
        return cls(model, tokenizer, max_length)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> torch.Tensor:
        """Pooled CLIP features [B, D2] (D2 = 768 for CLIP-L)."""
        texts = _as_list(prompts)
        ids = self.tokenizer(
            texts, max_length=self.max_length, padding="max_length", truncation=True, return_tensors="pt"
        )["input_ids"]
        _warn_if_truncated(self.tokenizer, texts, self.max_length, "CLIP")
        return self.model(input_ids=ids.to(self.device)).pooler_output  # [B, D2]
