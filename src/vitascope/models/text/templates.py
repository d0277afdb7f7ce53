"""Prompt templates of the HunyuanVideo LLM text encoder (Llama-3 chat format).

The strings are data that the released weights were trained with, so they are reproduced byte for byte
from the official constants (`hyvideo/constants.py`); the same strings sit in diffusers' pipelines.

`crop_start` is the index (in tokens of the Llama-3 tokenizer, BOS included) where the user prompt begins;
everything before it is the instruction and is cut away after encoding. For the I2V templates the index
is counted *before* the single `<image>` token is expanded into the image-patch tokens.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

_VIDEO_ASPECTS = (
    "1. The main content and theme of the video."
    "2. The color, shape, size, texture, quantity, text, and spatial relationships of the objects."
    "3. Actions, events, behaviors temporal relationships, physical movement changes of the objects."
    "4. background environment, light, style and atmosphere."
    "5. camera angles, movements, and transitions used in the video:<|eot_id|>"
)
_IMAGE_ASPECTS = (
    "Describe the image by detailing the color, shape, size, texture, "
    "quantity, text, spatial relationships of the objects and background:<|eot_id|>"
)
_SYSTEM = "<|start_header_id|>system<|end_header_id|>\n\n"
_USER = "<|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|>"
_ASSISTANT = "<|start_header_id|>assistant<|end_header_id|>\n\n"

# Default negative prompts of the official samplers (used only with real CFG).
NEGATIVE_PROMPT = (
    "Aerial view, aerial view, overexposed, low quality, deformation, a poor composition, "
    "bad hands, bad teeth, bad eyes, bad limbs, distortion"
)
NEGATIVE_PROMPT_I2V = "deformation, a poor composition and deformed video, bad teeth, bad eyes, bad limbs"


@dataclass(frozen=True)
class PromptTemplate:
    """One LLM prompt template.

    template: format string with exactly one `{}` where the user prompt goes.
    crop_start: token index where the prompt starts (None: measure it with the tokenizer in use).
    image_emb_start/end/len: where the image-patch states sit in the expanded LLaVA sequence (I2V only);
        for the real LLaVA-Llama-3 these are 5, 581 and 576 (24x24 patches of a 336 px CLIP-L/14).
    double_return_token_id: Llama-3 id of "\\n\\n" (271); the official code finds the assistant header with it.
    """

    template: str
    crop_start: int | None
    image_emb_start: int | None = None
    image_emb_end: int | None = None
    image_emb_len: int | None = None
    double_return_token_id: int | None = None

    def __post_init__(self) -> None:
        if self.template.count("{}") != 1:
            raise ValueError(
                "PromptTemplate.template must contain exactly one '{}' placeholder for the prompt, "
                f"found {self.template.count('{}')} in {self.template[:60]!r}..."
            )
        if self.crop_start is not None and self.crop_start < 0:
            raise ValueError(f"PromptTemplate.crop_start must be >= 0 or None, got {self.crop_start}")
        image_fields = (self.image_emb_start, self.image_emb_end, self.image_emb_len)
        if any(v is not None for v in image_fields):
            if any(v is None for v in image_fields):
                raise ValueError("set all of image_emb_start, image_emb_end, image_emb_len, or none of them")
            if self.image_emb_end - self.image_emb_start != self.image_emb_len:
                raise ValueError(
                    f"image_emb_end - image_emb_start must equal image_emb_len, got "
                    f"{self.image_emb_end} - {self.image_emb_start} != {self.image_emb_len}"
                )

    @property
    def is_i2v(self) -> bool:
        """True when the template carries an `<image>` slot (LLaVA path)."""
        return "<image>" in self.template

    @property
    def prefix(self) -> str:
        """The instruction text before the prompt placeholder."""
        return self.template[: self.template.index("{}")]

    def format(self, prompt: str) -> str:
        return self.template.format(prompt)

    def with_crop_start(self, crop_start: int | None) -> PromptTemplate:
        return dataclasses.replace(self, crop_start=crop_start)


PROMPT_TEMPLATES: dict[str, PromptTemplate] = {
    "dit-llm-encode": PromptTemplate(template=_SYSTEM + _IMAGE_ASPECTS + _USER, crop_start=36),
    "dit-llm-encode-video": PromptTemplate(
        template=_SYSTEM + "Describe the video by detailing the following aspects: " + _VIDEO_ASPECTS + _USER,
        crop_start=95,
    ),
    # The official image-I2V template keeps crop_start=36 although `<image>\n` adds two tokens: reproduced
    # as released (only the video-I2V template is used by the I2V sampler).
    "dit-llm-encode-i2v": PromptTemplate(
        template=_SYSTEM + "<image>\n" + _IMAGE_ASPECTS + _USER + _ASSISTANT,
        crop_start=36,
        image_emb_start=5,
        image_emb_end=581,
        image_emb_len=576,
        double_return_token_id=271,
    ),
    "dit-llm-encode-video-i2v": PromptTemplate(
        template=_SYSTEM
        + "<image>\nDescribe the video by detailing the following aspects according to the reference image: "
        + _VIDEO_ASPECTS
        + "\n\n"
        + _USER
        + _ASSISTANT,
        crop_start=103,
        image_emb_start=5,
        image_emb_end=581,
        image_emb_len=576,
        double_return_token_id=271,
    ),
}


def get_template(template: str | PromptTemplate) -> PromptTemplate:
    """Look a template up by name (or pass a PromptTemplate through)."""
    from vitascope.errors import InvalidOptionError

    if isinstance(template, PromptTemplate):
        return template
    try:
        return PROMPT_TEMPLATES[template]
    except KeyError:
        raise InvalidOptionError(
            f"unknown prompt template {template!r}; choose one of {sorted(PROMPT_TEMPLATES)} "
            "or pass a PromptTemplate"
        ) from None
