"""`vitascope curate INPUT_DIR --out OUT`: raw videos -> manifest.parquet, failures.jsonl and a report."""

from __future__ import annotations

from pathlib import Path

import typer


def curate(
    input_dir: Path = typer.Argument(..., help="Folder of raw videos (searched recursively)."),
    out: Path = typer.Option(..., "--out", help="Output folder; an unfinished run there is resumed."),
    runner: str = typer.Option("local", help="'local' (process pool) or 'ray' (Ray Data)."),
    workers: int = typer.Option(1, help="Parallel worker processes (local) or CPUs (ray)."),
    config: Path | None = typer.Option(None, help="JSON or TOML file with stage settings."),
) -> None:
    """Split, filter, dedup, caption and bucket a folder of videos into a curated training manifest."""
    from vitascope.curate.config import load_config
    from vitascope.errors import InvalidOptionError

    cfg = load_config(config)
    if runner == "local":
        from vitascope.curate.runner_local import run_local as run
    elif runner == "ray":
        from vitascope.curate.runner_ray import run_ray as run
    else:
        raise InvalidOptionError(f"--runner must be 'local' or 'ray', got {runner!r}")
    result = run(input_dir, out, cfg, workers=workers, progress=True)
    s = result.summary
    typer.echo(
        f"{s['inputs']} inputs ({s['failed_inputs']} unreadable), {s['clips']} clips, {s['kept']} kept"
    )
    for reason, n in s["reasons"].items():
        typer.echo(f"  {reason}: {n}")
    typer.echo(f"manifest: {result.out / 'manifest.parquet'}")
    typer.echo(f"failures: {result.out / 'failures.jsonl'}")
    typer.echo(f"report:   {result.out / 'report' / 'report.md'}")
    enc = cfg.encode
    if enc.vae_folder:
        from vitascope.curate.encode import precompute_latents, text_encoder, vae_encoder, write_encoders

        counts = precompute_latents(
            result.records, input_dir, out / "latents", vae_encoder(enc.vae_folder),
            text_encoder(enc.llm_folder, enc.clip_folder) if enc.llm_folder else None,
            short_side=enc.short_side, fps=enc.fps, stage=enc.stage, shard_size=enc.shard_size,
        )  # fmt: skip
        write_encoders(out / "latents", enc)  # what `vitascope train --data` assembles a model folder from
        typer.echo(f"latents:  {out / 'latents'} ({sum(counts.values())} clips in {len(counts)} buckets)")
