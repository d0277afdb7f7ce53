"""The Avatar release's text encoder: LLaVA reads the prompt and the reference image, image tokens *last*.

What `hymm_sp/text_encoder` computes with transformers 4.45 (the release's pin), reproduced on any version:

1. text = video template (`dit-llm-encode-video`, crop_start 95) filled with the prompt, then
   "\\nThe person looks like<image>" appended after the template; tokenized to 351 (= 95 + 256) tokens,
   right padding, truncation;
2. LLaVA's legacy merge (one `<image>` token, fewer than 576): `<image>` becomes the 576 projected patch states
   in place, so the order is [template + prompt + suffix, 576 image states, padding]; padding embeddings are
   zeroed; the attention mask is "real token" and positions count real tokens (padding gets position 1);
3. `hidden_states[-3]` (skip 2, no final norm), cropped at 95: [B, 351 + 575 - 95 = 831, D];
4. the quirk: the mask handed to the DiT is not the merged one but [tokenizer mask (351) ; 575 ones], cropped.
   Its sum is the true count, so the main attention (count-based in the release) is right, but the token
   refiner reads it per position: it sees the image states past position 350 as padding and the trailing
   padding states as real. The DiT was trained that way, so we hand it the same mask.

The image is squashed to 336 x 336 (bilinear, no crop) and normalised with CLIP's mean and std, as the
release's `llava_transform` does. The unconditional branch gets the same image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vitascope.errors import InvalidOptionError
from vitascope.models.text.common import TextStates, load_model, load_tokenizer, resolve_folders
from vitascope.models.text.llava import image_token_count
from vitascope.models.text.llm import _as_list, _warn_if_truncated, hidden_state_index
from vitascope.models.text.templates import get_template

SUFFIX = "\nThe person looks like<image>"
PROMPT_PREFIX = "Authentic, Realistic, Natural, High-quality, Lens-Fixed, "
NEGATIVE_SUFFIX = ", blurring, Lens changes"  # added to the T2V negative prompt by the release's sampler
CLIP_MEAN = (0.48145466, 0.4578275, 0.4082107)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class AvatarLlavaEncoder:
    """(prompts, reference image) -> TextStates [B, max_length + crop_start + N - 1 - crop_start, D]."""

    def __init__(
        self, model, tokenizer, max_length: int = 256, hidden_state_skip_layer: int = 2, size: int = 336
    ):
        self.template = get_template("dit-llm-encode-video")
        self.crop_start = self.template.crop_start  # 95, as the release declares it
        n_layers = model.config.text_config.num_hidden_layers
        if not 0 <= hidden_state_skip_layer < n_layers:
            raise InvalidOptionError(
                f"hidden_state_skip_layer must be in [0, {n_layers}), got {hidden_state_skip_layer}"
            )
        self.model, self.tokenizer = model, tokenizer
        self.max_length, self.skip = max_length, hidden_state_skip_layer
        self.size = model.config.vision_config.image_size  # 336 for the release
        self.n_image = image_token_count(model.config)
        self.image_token_id = model.config.image_token_index
        pad = getattr(model.config, "pad_token_id", None)
        self.pad_token_id = pad if pad is not None else tokenizer.pad_token_id

    @classmethod
    def from_folder(cls, folder: str | Path, device="cpu", dtype=torch.float32, **kw) -> AvatarLlavaEncoder:
        """The release's `llava_llama_image/` (tokenizer inside)."""
        from transformers import LlavaForConditionalGeneration

        model_dir, tok_dir = resolve_folders(
            folder, None, ("llava_llama_image", "text_encoder"), "Avatar LLaVA"
        )
        tokenizer = load_tokenizer(tok_dir, "LLaVA")
        model = load_model(
            LlavaForConditionalGeneration, model_dir, "Avatar LLaVA text encoder", device, dtype
        )
        return cls(model, tokenizer, **kw)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def pixel_values(self, image: np.ndarray) -> torch.Tensor:
        """uint8 [H, W, 3] -> [1, 3, 336, 336]: squash to the tower's size (bilinear, no crop), CLIP mean/std."""
        from PIL import Image

        im = Image.fromarray(image).resize((self.size, self.size), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)
        x = (x - torch.tensor(CLIP_MEAN)[:, None, None]) / torch.tensor(CLIP_STD)[:, None, None]
        return x[None].to(self.device, self.dtype)

    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        texts = [self.template.format(p) + SUFFIX for p in prompts]
        total = self.crop_start + self.max_length
        batch = self.tokenizer(
            texts, max_length=total, padding="max_length", truncation=True, return_tensors="pt"
        )
        _warn_if_truncated(self.tokenizer, texts, total, "Avatar LLaVA")
        ids = batch["input_ids"]
        if not torch.all((ids == self.image_token_id).sum(dim=1) == 1):
            raise InvalidOptionError(
                "the prompt is too long: truncation cut the reference image token; shorten the prompt"
            )
        return ids, batch["attention_mask"]

    @torch.no_grad()
    def encode(self, prompts: list[str], image: np.ndarray) -> TextStates:
        prompts = _as_list(prompts)
        ids, tok_mask = self.tokenize(prompts)  # [B, S0]
        embeds, mask, pos = self.merge(ids, tok_mask, self.image_features(image, len(prompts)))
        core = getattr(self.model, "model", self.model)
        lm = core.language_model
        out = lm(
            inputs_embeds=embeds,
            attention_mask=mask.to(self.device),
            position_ids=pos.to(self.device),
            output_hidden_states=True,
        )
        hidden = out.hidden_states[hidden_state_index(self.skip)].to(self.dtype)  # [B, S0 + N - 1, D]
        # The release's mask quirk (see the module docstring): tokenizer mask, then N - 1 ones.
        quirk = torch.cat([tok_mask, torch.ones(len(prompts), self.n_image - 1, dtype=tok_mask.dtype)], dim=1)
        return TextStates(
            states=hidden[:, self.crop_start :], mask=quirk[:, self.crop_start :].to(self.device)
        )

    def image_features(self, image: np.ndarray, batch: int) -> torch.Tensor:
        core = getattr(self.model, "model", self.model)
        cfg = self.model.config
        feats = core.get_image_features(
            pixel_values=self.pixel_values(image),
            vision_feature_layer=cfg.vision_feature_layer,
            vision_feature_select_strategy=cfg.vision_feature_select_strategy,
        )
        if hasattr(feats, "pooler_output"):  # transformers >= 5 returns an output object
            feats = feats.pooler_output
        if isinstance(feats, (list, tuple)):  # per-image list of [N, D]
            feats = feats[0]
        feats = feats.reshape(1, -1, feats.shape[-1])  # [1, N, D]
        return feats.expand(batch, -1, -1)

    def merge(self, ids: torch.Tensor, tok_mask: torch.Tensor, image: torch.Tensor):
        """LLaVA's legacy merge: `<image>` -> N image states in place, padding embeddings zeroed.

        ids [B, S0] with one `<image>` per row; image [B, N, D]. Returns embeds [B, S0 + N - 1, D], the merged
        attention mask and position ids.
        """
        emb = self.model.get_input_embeddings()
        rows, masks = [], []
        for b, row in enumerate(ids):
            p = int((row == self.image_token_id).nonzero()[0])
            tok = emb(row.to(self.device))  # [S0, D]
            tok = tok.masked_fill((row == self.pad_token_id).to(self.device)[:, None], 0.0)
            rows.append(torch.cat([tok[:p], image[b].to(tok), tok[p + 1 :]]))
            real = tok_mask[b].long()
            masks.append(torch.cat([real[:p], torch.ones(image.shape[1], dtype=torch.long), real[p + 1 :]]))
        mask = torch.stack(masks)
        pos = (mask.cumsum(-1) - 1).masked_fill_(mask == 0, 1)
        return torch.stack(rows), mask, pos


__all__ = ["NEGATIVE_SUFFIX", "PROMPT_PREFIX", "SUFFIX", "AvatarLlavaEncoder"]
