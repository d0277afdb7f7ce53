"""Text encoders of HunyuanVideo over `transformers`: LLM (Llama-3), CLIP-L, and the LLaVA I2V encoder."""

from vitascope.models.text.clip import CLIPEncoder
from vitascope.models.text.common import TextStates
from vitascope.models.text.llava import LlavaI2VEncoder
from vitascope.models.text.llm import LLMEncoder
from vitascope.models.text.templates import (
    NEGATIVE_PROMPT,
    NEGATIVE_PROMPT_I2V,
    PROMPT_TEMPLATES,
    PromptTemplate,
    get_template,
)

__all__ = [
    "CLIPEncoder",
    "LLMEncoder",
    "LlavaI2VEncoder",
    "NEGATIVE_PROMPT",
    "NEGATIVE_PROMPT_I2V",
    "PROMPT_TEMPLATES",
    "PromptTemplate",
    "TextStates",
    "get_template",
]
