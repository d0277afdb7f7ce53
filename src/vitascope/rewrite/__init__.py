"""Prompt rewriting: user prompts (any language) into the caption forms the model was trained on."""

from vitascope.rewrite.backends import RewriteResult, make_backend, rewrite_prompt
from vitascope.rewrite.errors import RewriteError
from vitascope.rewrite.prompts import MODES

__all__ = ["MODES", "RewriteError", "RewriteResult", "make_backend", "rewrite_prompt"]
