"""Rewrite backends and `rewrite_prompt`, which never fails: on any backend error it warns and keeps the
user's prompt.

Backend specs (`--backend`): `offline` (built in, the demo world's vocabulary), `openai:URL` (any
OpenAI-compatible chat endpoint: vLLM, Ollama, llama.cpp server, a hosted API; URL is the API base, e.g.
`http://localhost:8000/v1`), `local:DIR` (a transformers causal-LM folder), `none` (no rewrite).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from vitascope.errors import InvalidOptionError
from vitascope.rewrite import offline
from vitascope.rewrite.errors import RewriteError
from vitascope.rewrite.prompts import MODES, clean_reply, messages, render_structured, structured_from_reply

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RewriteResult:
    original: str
    prompt: str  # what the video model gets
    mode: str
    backend: str
    rewritten: bool  # False when the backend failed (prompt == original) or the backend is `none`
    structured: dict | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class Backend(Protocol):
    name: str

    def rewrite(self, prompt: str, mode: str) -> tuple[str, dict | None]: ...


class OfflineBackend:
    name = "offline"

    def rewrite(self, prompt: str, mode: str) -> tuple[str, dict | None]:
        scene = offline.parse_free_text(prompt)
        fields = offline.structured(scene)
        if mode == "normal":
            return offline.canonical(scene), None
        if mode == "master":  # the trained sentence plus its composition, light and camera fields
            keep = ("Short Description", "Shot Type", "Lighting", "Camera Movement")
            return render_structured({k: fields[k] for k in keep}), None
        return render_structured(fields), fields


def _reply_to_result(text: str, mode: str) -> tuple[str, dict | None]:
    text = clean_reply(text)
    if mode == "structured":
        try:
            fields = structured_from_reply(text)
        except ValueError as e:
            raise RewriteError(f"the structured reply is not the caption JSON: {e}") from e
        return render_structured(fields), fields
    if not text:
        raise RewriteError("the model replied with nothing")
    return text, None


@dataclass
class OpenAIBackend:
    """POST {base_url}/chat/completions (plain HTTP via httpx)."""

    base_url: str
    model: str = "default"
    api_key: str | None = None
    timeout: float = 60.0
    temperature: float = 0.1
    max_tokens: int = 1024
    name: str = field(init=False, default="openai")

    def rewrite(self, prompt: str, mode: str) -> tuple[str, dict | None]:
        import httpx

        url = self.base_url.rstrip("/") + "/chat/completions"
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {
            "model": self.model,
            "messages": messages(prompt, mode),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        try:
            r = httpx.post(url, json=body, headers=headers, timeout=self.timeout)
            r.raise_for_status()
            text = r.json()["choices"][0]["message"]["content"]
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as e:
            raise RewriteError(f"the chat endpoint {url} failed: {e}") from e
        return _reply_to_result(text or "", mode)


@dataclass
class LocalLMBackend:
    """A transformers causal LM folder, greedy decoding; the tokenizer's chat template when it has one."""

    folder: str
    max_new_tokens: int = 256
    device: str = "cpu"
    name: str = field(init=False, default="local")

    def __post_init__(self):
        self._model = self._tokenizer = None

    def _load(self):
        if self._model is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            if not (Path(self.folder) / "config.json").exists():
                raise RewriteError(f"{self.folder} is not a transformers model folder (no config.json)")
            self._tokenizer = AutoTokenizer.from_pretrained(self.folder)
            self._model = AutoModelForCausalLM.from_pretrained(self.folder).to(self.device).eval()
        return self._model, self._tokenizer

    def rewrite(self, prompt: str, mode: str) -> tuple[str, dict | None]:
        import torch

        model, tok = self._load()
        ids = chat_input_ids(tok, messages(prompt, mode)).to(self.device)  # [1, L]
        with torch.no_grad():
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
            )
        return _reply_to_result(tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True), mode)


def chat_input_ids(tokenizer, msgs: list[dict[str, str]]):
    """Token ids [1, L] of a chat: the tokenizer's template, else plain `Role: text` lines."""
    if getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt")
        return ids if not hasattr(ids, "input_ids") else ids["input_ids"]
    text = "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in msgs) + "Assistant:"
    return tokenizer(text, return_tensors="pt").input_ids


def make_backend(spec: str, *, api_model: str = "default", api_key: str | None = None, timeout: float = 60.0):
    """A backend from its spec string; None for `none`. Bad specs raise InvalidOptionError."""
    kind, _, arg = spec.partition(":")
    if spec == "none":
        return None
    if spec == "offline":
        return OfflineBackend()
    if kind == "openai" and arg:
        if not arg.startswith(("http://", "https://")):
            raise InvalidOptionError(f"openai backend needs an http(s) URL, got {arg!r}")
        return OpenAIBackend(arg, model=api_model, api_key=api_key, timeout=timeout)
    if kind == "local" and arg:
        return LocalLMBackend(arg)
    raise InvalidOptionError(f"unknown rewrite backend {spec!r}; use offline, openai:URL, local:DIR or none")


def rewrite_prompt(
    prompt: str, mode: str = "normal", backend: Backend | str | None = "offline"
) -> RewriteResult:
    """Rewrite `prompt`; on a backend failure log a warning and return the prompt unchanged."""
    if mode not in MODES:
        raise InvalidOptionError(f"rewrite mode must be one of {', '.join(MODES)}, got {mode!r}")
    if isinstance(backend, str):
        backend = make_backend(backend)
    if backend is None:
        return RewriteResult(prompt, prompt, mode, "none", False)
    try:
        text, fields = backend.rewrite(prompt, mode)
    except RewriteError as e:
        log.warning("prompt rewrite (%s) failed, keeping the prompt as typed: %s", backend.name, e)
        return RewriteResult(prompt, prompt, mode, backend.name, False, error=str(e))
    log.info("rewrote %r -> %r (%s, %s)", prompt, text, backend.name, mode)
    return RewriteResult(prompt, text, mode, backend.name, True, structured=fields)


def result_json(result: RewriteResult) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False, indent=2)
