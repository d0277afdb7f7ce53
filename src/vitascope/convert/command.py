"""`vitascope convert SRC --to LAYOUT --out DST` and `vitascope inspect PATH`."""

from __future__ import annotations

from pathlib import Path

import typer


def convert(
    src: Path = typer.Argument(..., help="A model folder (Tencent, diffusers or vitascope layout)."),
    out: Path = typer.Option(..., "--out", "-o", help="New folder to write."),
    to: str = typer.Option("vitascope", "--to", help="vitascope, diffusers or tencent."),
    weights_key: str | None = typer.Option(
        None, "--weights-key", help="module (default) or ema: which weights of a Tencent .pt checkpoint."
    ),
) -> None:
    """Write a model folder in another layout (weights renamed, never retrained)."""
    from tqdm import tqdm

    from vitascope.convert.layouts import convert_folder

    with tqdm(desc="reading weights", unit="B", unit_scale=True) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        dst = convert_folder(src, out, to, weights_key=weights_key, progress=progress)
    typer.echo(f"wrote {to} layout to {dst}")


def inspect_(
    path: Path = typer.Argument(..., help="A model folder (any layout) or a single weights file."),
    weights_key: str | None = typer.Option(
        None, "--weights-key", help="module (default) or ema: which weights of a Tencent .pt checkpoint."
    ),
    all_keys: bool = typer.Option(False, "--all", help="List every missing or unexpected key."),
) -> None:
    """Show a model's layout, variant, parameters and dtypes; fail, naming the keys, if the weights do not fit."""
    from vitascope.convert.inspect import inspect_path
    from vitascope.errors import WeightLoadError

    ins = inspect_path(path, weights_key)
    for line in ins.lines(limit=10**9 if all_keys else 20):
        typer.echo(line)
    if ins.ok:
        return
    reasons = list(ins.problems) + [f"missing {m}" for m in ins.missing_parts]
    if ins.report is not None and not ins.report.ok:
        reasons.insert(0, f"the weights do not fit the {ins.variant.name} variant: {ins.report.summary()}")
    raise WeightLoadError(f"{path}: " + "; ".join(reasons))
