"""`vitascope rewrite PROMPT [--mode normal|master|structured] [--backend offline|openai:URL|local:DIR]`."""

from __future__ import annotations

import os

import typer

BACKEND_HELP = (
    "offline (built in), openai:URL (OpenAI-compatible API base), local:DIR (transformers LM) or none."
)


def backend_options(backend: str, api_model: str, api_key: str | None):
    from vitascope.rewrite import make_backend

    key = api_key or os.environ.get("VITASCOPE_REWRITE_API_KEY")
    return make_backend(backend, api_model=api_model, api_key=key)


def rewrite(
    prompt: str = typer.Argument(..., help="The prompt to rewrite (any language)."),
    mode: str = typer.Option(
        "normal", "--mode", help="normal, master (composition, light, camera) or structured."
    ),
    backend: str = typer.Option("offline", "--backend", help=BACKEND_HELP),
    api_model: str = typer.Option("default", "--api-model", help="Model name sent to an openai: backend."),
    api_key: str | None = typer.Option(
        None, "--api-key", help="Key for an openai: backend (or VITASCOPE_REWRITE_API_KEY)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print both prompts and the details as JSON."),
) -> None:
    """Rewrite a prompt into the form the model was trained on; prints the prompt the model would get."""
    from vitascope.rewrite import rewrite_prompt
    from vitascope.rewrite.backends import result_json

    result = rewrite_prompt(prompt, mode, backend_options(backend, api_model, api_key))
    typer.echo(result_json(result) if as_json or mode == "structured" else result.prompt)
