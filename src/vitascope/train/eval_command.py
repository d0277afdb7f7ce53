"""`vitascope eval`: generate from canonical prompts (training vocabulary) with new noise seeds, measure with
the world's analyzer."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def eval_(
    model: Path | None = typer.Option(
        None, "--model", help="Model folder (default: the bundled demo model)."
    ),
    n: int = typer.Option(30, "--n", help="Number of prompts (each is run as T2V and as I2V)."),
    seed: int = typer.Option(1234, "--seed", help="Seed of the prompt and generation-seed draw."),
    steps: int | None = typer.Option(None, "--steps", help="Sampling steps (default: the model's)."),
    out: Path = typer.Option(
        Path("outputs/eval"), "--out", help="Folder for results.json, table.md and inputs."
    ),
    mode: str = typer.Option("both", "--mode", help="t2v, i2v or both."),
    i2v_input: str = typer.Option(
        "world",
        "--i2v-input",
        help="world: the object where the world puts a still one (anywhere); centred: in the middle.",
    ),
    task: str = typer.Option(
        "world",
        "--task",
        help="world (native clips), long (10x native, in context windows), avatar (talking faces) or pose "
        "(held-out figures).",
    ),
    factor: int = typer.Option(10, "--factor", help="--task long: length in native clips."),
    window: str | None = typer.Option(None, "--window", help="--task long: musev (default) or shifted."),
    clips: int = typer.Option(
        6, "--clips", help="--task avatar: held-out clips (drawn 1-face, 2-face, world)."
    ),
    seconds: float = typer.Option(4.0, "--seconds", help="--task avatar: audio seconds per clip."),
    long_seconds: float = typer.Option(
        30.0, "--long-seconds", help="--task avatar: the identity-drift clip's length (0: skip it)."
    ),
    emotion: str | None = typer.Option(
        None, "--emotion", help="--task avatar: generate with this bundled expression and score it; all: each case "
        "asks for the next one (happy, sad, angry, surprised, neutral)."
    ),
    image_size: int | None = typer.Option(
        None, "--image-size", help="--task avatar: short side of the photos (default: the model's, else 64)."
    ),
    cache: str | None = typer.Option(
        None, "--cache", help="Step cache POLICY[:THRESHOLD] for every clip (teacache, fbcache, deepcache)."
    ),
) -> None:
    """Report colour, shape and motion accuracy (analyzer), I2V first-frame PSNR and temporal stability."""
    from vitascope.errors import InvalidOptionError
    from vitascope.pipelines.loader import load_pipeline
    from vitascope.train.checkpoint import atomic_text
    from vitascope.train.evaluate import markdown_table, run_eval, summarize

    modes = {"both": ("t2v", "i2v"), "t2v": ("t2v",), "i2v": ("i2v",)}.get(mode)
    if modes is None:
        raise InvalidOptionError(f"--mode must be t2v, i2v or both, got {mode!r}")
    if i2v_input not in ("world", "centred"):
        raise InvalidOptionError(f"--i2v-input must be world or centred, got {i2v_input!r}")
    if n < 1:
        raise InvalidOptionError(f"--n must be >= 1, got {n}")
    if task not in ("world", "long", "avatar", "pose"):
        raise InvalidOptionError(f"--task must be world, long, avatar or pose, got {task!r}")
    if cache is not None:
        from vitascope.parallel.cache import StepCache

        StepCache.parse(cache)  # a bad value fails before the model loads
        if task != "world":
            raise InvalidOptionError("--cache applies to --task world")
    if task == "avatar":
        from vitascope.pipelines.avatar_eval import avatar_eval_command

        avatar_eval_command(model, clips, seed, seconds, long_seconds, emotion, image_size, steps, out)
        return
    if task == "pose":
        from vitascope.pipelines.loader import pose_model_path

        _eval_pose(load_pipeline(model or pose_model_path()), n, seed, steps, out)
        return
    pipe = load_pipeline(model)
    if task == "long":
        _eval_long(pipe, n, seed, steps, out, modes, factor, window)
        return
    results = run_eval(
        pipe, n, seed, out / "inputs", modes, steps, centred=i2v_input == "centred", cache=cache
    )
    summary = summarize(results)
    out.mkdir(parents=True, exist_ok=True)
    rows = [r.__dict__ | {"stability": _measured(r.stability)} for r in results]
    report = {
        "model": pipe.identity,
        "seed": seed,
        "i2v_input": i2v_input,
        "cache": cache,
        "dit_calls": {k: sum(r.dit_calls[k] for r in results) for k in ("full", "cached")},
        "prompts": "training vocabulary with new noise seeds (not held out)",
        "summary": {m: {k: _measured(v) for k, v in row.items()} for m, row in summary.items()},
        "cases": rows,
    }
    atomic_text(out / "results.json", json.dumps(report, indent=1))  # null: not measured
    table = markdown_table(summary)
    atomic_text(out / "table.md", table)
    typer.echo(table)
    calls = report["dit_calls"]
    typer.echo(f"DiT calls: {calls['full']} full, {calls['cached']} cached (--cache {cache})")
    typer.echo(f"details: {out / 'results.json'}")


def _eval_long(pipe, n, seed, steps, out: Path, modes, factor: int, window: str | None) -> None:
    from vitascope.train.eval_long import long_table, run_long_eval, window_strip

    rows, example = run_long_eval(pipe, n, seed, out / "inputs", factor, steps, modes, window)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"model": pipe.identity, "seed": seed, "factor": factor, "cases": rows}
    (out / "long_results.json").write_text(json.dumps(summary, indent=1))
    table = long_table(rows)
    (out / "long_table.md").write_text(table)
    video, record, prompt = example
    strip = window_strip(video, record, out / "long_windows.png")
    typer.echo(table)
    typer.echo(f"details: {out / 'long_results.json'}; frames across windows ({prompt!r}): {strip}")


def _eval_pose(pipe, n: int, seed: int, steps, out: Path) -> None:
    from vitascope.pipelines.pose import require_pose_model
    from vitascope.train.checkpoint import atomic_text
    from vitascope.train.eval_pose import TARGETS, pose_strip, pose_summary, pose_table, run_pose_eval

    require_pose_model(pipe.dit)
    rows, (video, skeleton, motion) = run_pose_eval(pipe, n, seed, out / "inputs", steps)
    report = {
        "model": pipe.identity,
        "seed": seed,
        "targets": TARGETS,
        "summary": pose_summary(rows),
        "cases": rows,
    }
    atomic_text(out / "pose_results.json", json.dumps(report, indent=1))
    table = pose_table(rows)
    atomic_text(out / "pose_table.md", table)
    strip = pose_strip(video, skeleton, out / "pose_frames.png")
    typer.echo(table)
    typer.echo(
        f"details: {out / 'pose_results.json'}; generated frames over their skeletons ({motion}): {strip}"
    )


def _measured(v):
    """None for a metric that could not be measured (NaN), so results.json stays valid JSON."""
    return None if isinstance(v, float) and v != v else v
