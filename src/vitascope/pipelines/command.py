"""`vitascope generate` and `vitascope demo`: parse, call the pipeline, write the video and its sidecar."""

from __future__ import annotations

import secrets
from pathlib import Path

import typer


def _progress_bar(desc: str):
    from tqdm import tqdm

    bar = {"b": None}

    def update(step: int, total: int) -> None:
        if bar["b"] is None:
            bar["b"] = tqdm(total=total, desc=desc, unit="step")
        bar["b"].update(step - bar["b"].n)
        if step == total:
            bar["b"].close()

    return update


def _quiet_transformers() -> None:
    """transformers draws a progress bar per weight file; ours is the one that matters."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _long_extra(window: str | None, overlap: int | None, riflex: bool) -> dict:
    """The long-video settings, checked before the model loads (pipelines/long.py reads them)."""
    from vitascope.errors import InvalidOptionError
    from vitascope.pipelines.long import WINDOW_KINDS

    if window is not None and window not in WINDOW_KINDS:
        raise InvalidOptionError(f"--window must be one of {', '.join(WINDOW_KINDS)}, got {window!r}")
    extra = {"window": window, "riflex": riflex} if window or riflex else {}
    if overlap is not None:
        extra["window_overlap"] = overlap
    return extra


def generate(
    prompt: str = typer.Option(..., "--prompt", "-p", help="What the video shows."),
    output: str = typer.Option(
        "outputs/video.mp4",
        "--output",
        "-o",
        help="An .mp4 path, or a folder path ending in / for numbered PNG frames.",
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model folder (Tencent, diffusers or vitascope layout); omit for the bundled demo model.",
    ),
    image: Path | None = typer.Option(None, "--image", "-i", help="First frame for image-to-video."),
    negative_prompt: str | None = typer.Option(None, "--negative-prompt"),
    height: int | None = typer.Option(None, "--height"),
    width: int | None = typer.Option(None, "--width"),
    frames: int | None = typer.Option(
        None, "--frames", help="4k+1 frames (the VAE packs 4 frames per latent)."
    ),
    steps: int | None = typer.Option(None, "--steps"),
    seed: int | None = typer.Option(
        None, "--seed", help="Random when omitted; always written to the sidecar."
    ),
    flow_shift: float | None = typer.Option(None, "--flow-shift"),
    guidance: float | None = typer.Option(None, "--guidance", help="Embedded (distilled) guidance scale."),
    cfg_scale: float | None = typer.Option(
        None, "--cfg-scale", help="True CFG with the negative prompt; 1 = off."
    ),
    i2v_stability: bool | None = typer.Option(None, "--i2v-stability/--no-i2v-stability"),
    fps: int | None = typer.Option(None, "--fps"),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, mps or auto."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, bfloat16 or float16."),
    vae_tiling: bool = typer.Option(
        False, "--vae-tiling/--no-vae-tiling", help="Tile the VAE decode (large videos)."
    ),
    lora: list[str] = typer.Option(
        [], "--lora", help="LoRA file, optionally FILE:WEIGHT (any format in docs/lora.md); repeatable."
    ),
    lora_scale: float = typer.Option(1.0, "--lora-scale", help="Weight of each --lora given without one."),
    lora_mode: str = typer.Option(
        "merge", "--lora-mode", help="merge (into the weights) or runtime (PEFT adapters)."
    ),
    rewrite: str | None = typer.Option(
        None, "--rewrite", help="Rewrite the prompt first: normal, master or structured (docs/rewrite.md)."
    ),
    rewrite_backend: str = typer.Option(
        "offline", "--rewrite-backend", help="offline, openai:URL, local:DIR (see `vitascope rewrite`)."
    ),
    rewrite_api_model: str = typer.Option("default", "--rewrite-api-model"),
    rewrite_api_key: str | None = typer.Option(None, "--rewrite-api-key"),
    window: str | None = typer.Option(
        None,
        "--window",
        help="Context windows for videos longer than the model's clip: musev (default then), shifted, "
        "shifted-loop or none (docs/long_video.md).",
    ),
    window_overlap: int | None = typer.Option(
        None, "--window-overlap", help="musev: latent frames shared by neighbouring windows (half a window)."
    ),
    riflex: bool = typer.Option(
        False, "--riflex", help="RIFLEx: one whole clip past the trained length (with --window none)."
    ),
) -> None:
    """Generate a video from a prompt (and optionally a first-frame image)."""
    from vitascope.pipelines.loader import load_pipeline
    from vitascope.pipelines.options import GenerationOptions, validate
    from vitascope.pipelines.output import save_result

    _quiet_transformers()
    rewritten = None
    if rewrite:
        from vitascope.rewrite import rewrite_prompt
        from vitascope.rewrite.command import backend_options

        backend = backend_options(rewrite_backend, rewrite_api_model, rewrite_api_key)
        rewritten = rewrite_prompt(prompt, rewrite, backend)
        prompt = rewritten.prompt
    opts = GenerationOptions(
        prompt=prompt,
        task="i2v" if image else "t2v",
        negative_prompt=negative_prompt,
        image=str(image) if image else None,
        height=height,
        width=width,
        frames=frames,
        steps=steps,
        seed=secrets.randbelow(2**31) if seed is None else seed,
        flow_shift=flow_shift,
        guidance=guidance,
        cfg_scale=cfg_scale,
        i2v_stability=i2v_stability,
        fps=fps,
        extra=_long_extra(window, window_overlap, riflex),
    )
    validate(opts)  # bad sizes fail before minutes of model loading
    from vitascope.convert.lora import parse_lora_spec

    loras = [parse_lora_spec(x, lora_scale) for x in lora]
    pipe = load_pipeline(model, device=device, dtype=dtype, loras=loras, lora_mode=lora_mode)
    pipe.vae_tiling = vae_tiling
    result = pipe.generate(opts, progress=_progress_bar("denoising"))
    if rewritten is not None:  # the sidecar keeps both prompts
        result.metadata["prompt_rewrite"] = rewritten.to_dict()
    out = save_result(result, output)
    o = result.options
    typer.echo(
        f"wrote {out} ({len(result.video)} frames, {o.width}x{o.height}, seed {o.seed}, {result.metadata['seconds']} s)"
    )


def demo(
    out: Path = typer.Option(Path("outputs/demo"), "--out", help="Folder for the samples."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Text-to-video and image-to-video with the bundled demo model; prints where the files are."""
    from vitascope.media import write_png_frames
    from vitascope.pipelines.loader import load_pipeline
    from vitascope.pipelines.options import GenerationOptions
    from vitascope.pipelines.output import save_result
    from vitascope.synthetic import render, sample_scene

    _quiet_transformers()
    pipe = load_pipeline(None, device="cpu")
    d = pipe.defaults
    t2v_prompt = "a red circle moving right on a black background"
    t2v = pipe.generate(
        GenerationOptions(prompt=t2v_prompt, seed=seed), progress=_progress_bar("text-to-video")
    )
    t2v_path = save_result(t2v, out / "t2v.mp4")

    # The I2V input comes from the synthetic world the model was trained on: a yellow square, first frame.
    spec = sample_scene(
        seed,
        frames=1,
        height=d.height,
        width=d.width,
        n_objects=1,
        shape="square",
        colour="yellow",
        motion="moving down",
        background="black",
        camera="static",
    )
    first = render(spec)  # [1, H, W, 3]
    image_path = write_png_frames(first, out / "i2v_input") / "00000.png"
    i2v_prompt = "a yellow square moving down on a black background"
    i2v = pipe.generate(
        GenerationOptions(prompt=i2v_prompt, task="i2v", image=str(image_path), seed=seed),
        progress=_progress_bar("image-to-video"),
    )
    i2v_path = save_result(i2v, out / "i2v.mp4")
    typer.echo(f"text-to-video:  {t2v_path}  ({t2v_prompt!r})")
    typer.echo(f"image-to-video: {i2v_path}  (input {image_path}, {i2v_prompt!r})")
