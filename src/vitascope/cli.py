"""The `vitascope` command line: parse, call the library, print where the outputs went.

Each subcommand lives next to the code it drives (`<area>/command.py`) and is registered here, so this file
stays a table of contents. Command modules import nothing heavy at module level.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

app = typer.Typer(
    name="vitascope",
    help="Hunyuan-family video generation: generate, train, curate, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (command name, module, function)
COMMANDS = [
    ("generate", "vitascope.pipelines.command", "generate"),
    ("convert", "vitascope.convert.command", "convert"),
    ("inspect", "vitascope.convert.command", "inspect_"),
    ("convert-lora", "vitascope.convert.lora_command", "convert_lora"),
    ("rewrite", "vitascope.rewrite.command", "rewrite"),
    ("extend", "vitascope.pipelines.extend_command", "extend"),
    ("demo", "vitascope.pipelines.command", "demo"),
    ("train", "vitascope.train.command", "train"),
    ("eval", "vitascope.train.eval_command", "eval_"),
    ("curate", "vitascope.curate.command", "curate"),
    ("serve", "vitascope.serve.command", "serve"),
]


def _register() -> None:
    if getattr(app, "_vitascope_registered", False):
        return
    app._vitascope_registered = True
    for name, module, func in COMMANDS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name == module:  # that area is not built in this install
                continue
            raise
        app.command(name)(getattr(mod, func))


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def main() -> None:
    _register()
    from vitascope.errors import VitascopeError

    try:
        app()
    except VitascopeError as e:
        typer.secho(f"error: {e}", err=True, fg="red")
        sys.exit(2)


if __name__ == "__main__":
    main()
