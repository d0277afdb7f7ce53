"""`vitascope train-lora --data SHARDS [--base MODEL] [--rank R --alpha A --targets T --steps N]`."""

from __future__ import annotations

from pathlib import Path

import typer


def train_lora(
    data: Path = typer.Option(..., "--data", help="Latent shards (`vitascope curate` output) to learn from."),
    base: Path | None = typer.Option(
        None, "--base", help="Base model folder; omit for the bundled demo model."
    ),
    out: Path = typer.Option(Path("runs/lora"), "--out", help="Run folder (checkpoints, metrics, export)."),
    rank: int = typer.Option(16, "--rank"),
    alpha: float | None = typer.Option(None, "--alpha", help="Default: the rank (scale 1)."),
    targets: str = typer.Option(
        "blocks", "--targets", help="blocks, i2v (the official I2V list) or a regex."
    ),
    steps: int = typer.Option(300, "--steps"),
    lr: float = typer.Option(1e-3, "--lr"),
    batch_size: int = typer.Option(2, "--batch-size"),
    sample_every: int = typer.Option(0, "--sample-every", help="Preview videos every N steps (0: none)."),
    max_seconds: float | None = typer.Option(
        None, "--max-seconds", help="Stop, checkpoint and export after this."
    ),
    resume: bool = typer.Option(True, "--resume/--no-resume"),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """Train a LoRA on a model folder with the training loop; writes OUT/export/lora.safetensors."""
    from vitascope.train.loop import train
    from vitascope.train.lora_task import lora_recipe

    recipe = lora_recipe(
        data, base, rank=rank, alpha=alpha, targets=targets, steps=steps, lr=lr, batch_size=batch_size,
        sample_every=sample_every,
    )  # fmt: skip
    res = train(recipe, out, resume=resume, device=device, max_seconds=max_seconds)
    typer.echo(f"LoRA after {res.step} steps: {res.export_dir / 'lora.safetensors'}")
