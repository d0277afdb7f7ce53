"""`vitascope convert-lora IN --to FORMAT --out OUT`."""

from __future__ import annotations

from pathlib import Path

import typer


def convert_lora(
    src: Path = typer.Argument(..., help="A LoRA file in any supported format (docs/lora.md)."),
    out: Path = typer.Option(..., "--out", "-o", help="The .safetensors file to write."),
    to: str = typer.Option(
        "diffusion_model",
        "--to",
        help="diffusion_model (ComfyUI, diffusion-pipe), peft, musubi, i2v (official I2V script) or diffusers.",
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model folder the LoRA is for (checks shapes); omit to resolve names on the full-size layout.",
    ),
) -> None:
    """Rewrite a LoRA file in another key format (the weights' effect is unchanged)."""
    from vitascope.convert.lora import LinearIndex, read_lora
    from vitascope.convert.lora_formats import format_name, save_lora

    fmt = format_name(to)  # a bad --to fails before any file is read
    index = None
    if model is not None:
        import torch

        from vitascope.convert.folder import detect_folder
        from vitascope.convert.loader import load_dit

        index = LinearIndex.of(load_dit(detect_folder(Path(model)), torch.device("cpu"), torch.float32))
    lora = read_lora(src, index)
    path = save_lora(lora, out, fmt, {"vitascope.converted_from": src.name})
    typer.echo(f"wrote {fmt} LoRA ({len(lora)} layers) to {path}")
