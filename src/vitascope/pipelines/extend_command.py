"""`vitascope extend IN.mp4 --prompt ... --frames N`: continue a video from its last frame."""

from __future__ import annotations

import secrets
from pathlib import Path

import typer


def extend(
    video: Path = typer.Argument(..., help="The video to continue (any format PyAV reads)."),
    prompt: str = typer.Option(..., "--prompt", "-p", help="What the continuation shows."),
    frames: int = typer.Option(..., "--frames", help="How many new frames to add."),
    output: str = typer.Option("outputs/extended.mp4", "--output", "-o", help="The .mp4 to write."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model folder; omit for the demo model."),
    steps: int | None = typer.Option(None, "--steps"),
    seed: int | None = typer.Option(None, "--seed", help="Random when omitted; written to the sidecar."),
    cfg_scale: float | None = typer.Option(None, "--cfg-scale"),
    window: str | None = typer.Option(None, "--window", help="musev, shifted, shifted-loop or none."),
    device: str = typer.Option("auto", "--device"),
    dtype: str = typer.Option("float32", "--dtype"),
) -> None:
    """Continue a video from its last frame (image-to-video by token replace), original + new frames."""
    from vitascope.io.files import write_json_atomic
    from vitascope.media import read_video, write_video
    from vitascope.pipelines.command import _long_extra, _progress_bar, _quiet_transformers
    from vitascope.pipelines.extend import extend_video, generation_frames
    from vitascope.pipelines.loader import load_pipeline
    from vitascope.pipelines.options import GenerationOptions
    from vitascope.pipelines.output import sidecar_path

    generation_frames(frames)  # bad counts fail before the model loads
    src, fps = read_video(video)
    _quiet_transformers()
    opts = GenerationOptions(
        prompt=prompt,
        steps=steps,
        seed=secrets.randbelow(2**31) if seed is None else seed,
        cfg_scale=cfg_scale,
        fps=max(1, min(120, round(fps))),
        extra=_long_extra(window, None, False),
    )
    pipe = load_pipeline(model, device=device, dtype=dtype)
    out_frames, meta = extend_video(pipe, src, opts, frames, progress=_progress_bar("extending"))
    out = Path(output)
    if out.suffix.lower() != ".mp4":
        out = out.with_suffix(".mp4")
    write_video(out_frames, out, fps=opts.fps)
    meta = {**meta, "source": str(video), "output": str(out), "fps": opts.fps}
    write_json_atomic(sidecar_path(out, False), meta)
    typer.echo(f"wrote {out} ({len(src)} + {meta['new_frames']} frames, seed {opts.seed})")
