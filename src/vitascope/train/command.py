"""`vitascope train`: run a recipe (or a list of recipes) into a run folder; resumable; torchrun-aware."""

from __future__ import annotations

import os
from pathlib import Path

import typer

LORA_PRESETS = ("lora", "lora-i2v")  # built from --data and --base, not from the recipe registry


def train(
    recipe: str = typer.Option(
        ...,
        "--recipe",
        help="Recipe name: demo, demo-vae, demo-dit, vae, dit, tiny; lora, lora-i2v (with --data, --base).",
    ),
    out: Path = typer.Option(
        Path("runs/x"), "--out", help="Run folder (checkpoints, metrics, samples, export)."
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        help="Curated data (the OUT of `vitascope curate` with encode on, or its latents/ folder): "
        "DiT recipes train on its latent shards and precomputed text states.",
    ),
    max_steps: int | None = typer.Option(
        None, "--max-steps", help="Stop after this many steps (per recipe)."
    ),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from the newest checkpoint."),
    model_out: Path | None = typer.Option(
        None, "--model-out", help="Where to write the finished model folder (default: OUT/model)."
    ),
    device: str = typer.Option(
        "auto", "--device", help="auto (a GPU when there is one), cpu, or cuda[:N]; data is drawn on the CPU."
    ),
    max_seconds: float | None = typer.Option(
        None, "--max-seconds", help="Per recipe: stop, checkpoint and export after this wall-clock time."
    ),
    data_workers: int = typer.Option(
        0, "--data-workers", help="Processes rendering VAE training clips ahead (for GPU runs)."
    ),
    base: Path | None = typer.Option(
        None, "--base", help="LoRA recipes: the model folder to adapt (default: the bundled demo model)."
    ),
    rank_: int | None = typer.Option(
        None, "--rank", help="LoRA recipes: adapter rank (lora 16, lora-i2v 64)."
    ),
    alpha: float | None = typer.Option(None, "--alpha", help="LoRA recipes: alpha (default: the rank)."),
    targets: str | None = typer.Option(
        None,
        "--targets",
        help="LoRA recipes: blocks, i2v (the official I2V list), a regex or comma-separated suffixes.",
    ),
    steps: int | None = typer.Option(None, "--steps", help="LoRA recipes: optimizer steps (lora 400)."),
    lr: float | None = typer.Option(
        None, "--lr", help="LoRA recipes: learning rate (lora 1e-3, lora-i2v 1e-4)."
    ),
    batch_size: int | None = typer.Option(None, "--batch-size", help="LoRA recipes: clips per step (2)."),
    sample_every: int | None = typer.Option(
        None, "--sample-every", help="LoRA recipes: preview videos every N steps (0: none)."
    ),
    preserve_prompts: Path | None = typer.Option(
        None,
        "--preserve-prompts",
        help="LoRA recipes: prompts the base already draws right, one per line, kept as they were "
        "(default: the base folder's prompts.txt).",
    ),
    preserve_weight: float | None = typer.Option(
        None, "--preserve-weight", help="LoRA recipes: weight of that prior-preservation term (1; 0: off)."
    ),
) -> None:
    """Train with a recorded recipe. Under `torchrun --nproc_per_node N` the model is sharded with FSDP2
    (gloo on CPU, NCCL on GPU) and each process takes an equal share of every batch; checkpoints are
    sharded and resume on any number of processes.

    `--recipe lora` (T2V) or `lora-i2v` (the official I2V LoRA recipe: I2V conditioning, its target list)
    fine-tunes a LoRA on `--base` from `--data`: curated shards, or a folder of clip.mp4 + clip.txt pairs;
    the result is OUT/export/lora.safetensors (docs/lora.md)."""
    from vitascope.parallel.fsdp import close_distributed, init_distributed
    from vitascope.train.recipes import get_recipe

    # The launcher's environment is read here, in the CLI, and nowhere in the library.
    rank, world = init_distributed(
        int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("LOCAL_RANK", "0"))
    )
    lora = {"base": base, "rank": rank_, "alpha": alpha, "targets": targets, "steps": steps, "lr": lr,
            "batch_size": batch_size, "sample_every": sample_every, "preserve_prompts": preserve_prompts,
            "preserve_weight": preserve_weight}  # fmt: skip
    try:
        if recipe in LORA_PRESETS:
            _run_lora(recipe, data, lora, out, max_steps, resume, device, max_seconds, rank)
            return
        given = [k for k, v in lora.items() if v is not None]
        if given:
            from vitascope.errors import InvalidOptionError

            flag = "--" + given[0].replace("_", "-")
            raise InvalidOptionError(f"{flag} is an option of the LoRA recipes ({', '.join(LORA_PRESETS)})")
        recipes = get_recipe(recipe)
        if data is not None:
            recipes = [r.on_shards(data) if r.kind == "dit" else r for r in recipes]
        _run_all(recipes, out, max_steps, resume, model_out, device, max_seconds, data_workers, rank)
    finally:
        close_distributed()


def _run_lora(preset, data, lora, out, max_steps, resume, device, max_seconds, rank) -> None:
    from vitascope.errors import InvalidOptionError
    from vitascope.train.loop import train as run
    from vitascope.train.lora_task import lora_recipe

    if data is None:
        raise InvalidOptionError(
            f"--recipe {preset} needs --data: curated shards (`vitascope curate` output) or a folder of "
            "clip.mp4 + clip.txt pairs"
        )
    kw = {k: v for k, v in lora.items() if v is not None and k != "base"}
    r = lora_recipe(data, lora["base"], preset=preset, **kw)
    res = run(r, out, max_steps=max_steps, resume=resume, device=device, max_seconds=max_seconds)
    if rank == 0:
        done = "finished" if res.step >= r.total_steps else f"stopped at step {res.step} of {r.total_steps};"
        typer.echo(f"{r.name}: {done} LoRA in {res.export_dir / 'lora.safetensors'}")


def _run_all(recipes, out, max_steps, resume, model_out, device, max_seconds, data_workers, rank) -> None:
    import logging

    from vitascope.errors import ModelFolderError
    from vitascope.train.checkpoint import barrier
    from vitascope.train.export import assemble_model_folder
    from vitascope.train.loop import train as run

    log = logging.getLogger("vitascope.train")
    results = []
    for r in recipes:
        run_dir = out / r.name if len(recipes) > 1 else out
        res = run(
            r,
            run_dir,
            max_steps=max_steps,
            resume=resume,
            run_root=out,
            device=device,
            max_seconds=max_seconds,
            data_workers=data_workers,
        )
        results.append(res)
        if rank == 0:
            done = (
                "finished"
                if res.step >= r.total_steps
                else f"stopped early at step {res.step} of {r.total_steps};"
            )
            typer.echo(f"{r.name}: {done} weights in {res.export_dir}")
        if res.step < r.total_steps and r is not recipes[-1] and rank == 0:
            # The next recipe trains on this one's partial export (fine for a smoke run; a resumed run
            # re-encodes its latents, as pools are keyed by the VAE weights).
            log.warning("%s is not finished; later recipes use its partial weights", r.name)
    dits = [r for r in recipes if r.kind == "dit"]  # the last one's weights make the model folder
    if dits and rank == 0:
        dit = dits[-1]
        target = model_out or out / "model"
        dit_steps = sum(res.step for r, res in zip(recipes, results, strict=True) if r.kind == "dit")
        try:
            assemble_model_folder(
                out / dit.name if len(recipes) > 1 else out,
                dit,
                target,
                run_root=out,
                trained_steps=dit_steps,
            )
        except ModelFolderError as e:  # a DiT without a VAE of its own: the weights alone are the result
            typer.echo(f"no model folder: {e}")
        else:
            typer.echo(f"model folder: {target}")
            log.info("model folder written to %s", target)
    barrier()
