"""`vitascope convert SRC --to LAYOUT --out DST`."""

from __future__ import annotations

from pathlib import Path

import typer


def convert(
    src: Path = typer.Argument(..., help="A model folder (Tencent, diffusers or vitascope layout)."),
    out: Path = typer.Option(..., "--out", "-o", help="New folder to write."),
    to: str = typer.Option("vitascope", "--to", help="vitascope, diffusers or tencent."),
) -> None:
    """Write a model folder in another layout (weights renamed, never retrained)."""
    from vitascope.convert.layouts import convert_folder

    dst = convert_folder(src, out, to)
    typer.echo(f"wrote {to} layout to {dst}")
