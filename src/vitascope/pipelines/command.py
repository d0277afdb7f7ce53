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


def generate(
    prompt: str | None = typer.Option(
        None, "--prompt", "-p", help="What the video shows (required except with --audio)."
    ),
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
    image: Path | None = typer.Option(
        None, "--image", "-i", help="First frame for image-to-video; the reference photo with --audio."
    ),
    audio: Path | None = typer.Option(
        None, "--audio", "-a", help="Voice recording (wav, mp3, m4a, flac): audio-driven avatar video."
    ),
    face_box: str | None = typer.Option(
        None, "--face-box", help="Avatar: the face as x,y,w,h pixels of the photo (skips detection)."
    ),
    deepcache: bool = typer.Option(
        True, "--deepcache/--no-deepcache", help="Avatar: DeepCache as the release runs it."
    ),
    wrap: bool = typer.Option(
        True, "--wrap/--no-wrap", help="Avatar: circular windows as the release (ties the end to the start)."
    ),
    image_size: int = typer.Option(704, "--image-size", help="Avatar: short side of the reference photo."),
    max_audio_seconds: float | None = typer.Option(
        None, "--max-audio-seconds", help="Avatar: refuse longer audio."
    ),
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
) -> None:
    """Generate a video from a prompt (and optionally a first-frame image), or a talking video from a photo
    and a voice recording (--image + --audio with an Avatar model)."""
    from vitascope.pipelines.loader import load_pipeline
    from vitascope.pipelines.options import GenerationOptions, validate
    from vitascope.pipelines.output import save_result

    _quiet_transformers()
    if audio is not None:
        return _generate_avatar(
            model=model,
            image=image,
            audio=audio,
            prompt=prompt or "",
            output=output,
            negative_prompt=negative_prompt,
            steps=steps,
            seed=secrets.randbelow(2**31) if seed is None else seed,
            flow_shift=flow_shift,
            cfg_scale=cfg_scale,
            face_box=face_box,
            deepcache=deepcache,
            wrap=wrap,
            image_size=image_size,
            max_audio_seconds=max_audio_seconds,
            device=device,
            dtype=dtype,
        )
    if prompt is None:
        from vitascope.errors import InvalidOptionError

        raise InvalidOptionError("--prompt is required (or give --audio and --image for an avatar video)")
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
    )
    validate(opts)  # bad sizes fail before minutes of model loading
    from vitascope.convert.lora import parse_lora_spec

    loras = [parse_lora_spec(x, lora_scale) for x in lora]
    pipe = load_pipeline(model, device=device, dtype=dtype, loras=loras, lora_mode=lora_mode)
    if not hasattr(pipe, "vae_tiling"):  # the Avatar pipeline
        from vitascope.errors import InvalidOptionError

        raise InvalidOptionError(
            "this is the audio-driven Avatar model: pass --image PHOTO and --audio VOICE"
        )
    pipe.vae_tiling = vae_tiling
    result = pipe.generate(opts, progress=_progress_bar("denoising"))
    if rewritten is not None:  # the sidecar keeps both prompts
        result.metadata["prompt_rewrite"] = rewritten.to_dict()
    out = save_result(result, output)
    o = result.options
    typer.echo(
        f"wrote {out} ({len(result.video)} frames, {o.width}x{o.height}, seed {o.seed}, {result.metadata['seconds']} s)"
    )


def _generate_avatar(*, model, image, audio, output, steps, seed, flow_shift, cfg_scale, face_box, **kw):
    """`generate --audio`: the HunyuanVideo-Avatar pipeline; every option is checked before the model loads."""
    from vitascope.errors import InvalidOptionError
    from vitascope.models.audio.face import parse_face_box
    from vitascope.pipelines.avatar import AvatarOptions, AvatarPipeline
    from vitascope.pipelines.avatar_output import save_avatar
    from vitascope.pipelines.loader import load_pipeline

    if image is None:
        raise InvalidOptionError("--audio needs --image: the photo of the person who speaks")
    if model is None:
        raise InvalidOptionError(
            "--audio needs --model: the HunyuanVideo-Avatar folder (weights/ or weights/ckpts/)"
        )
    given = {"steps": steps, "flow_shift": flow_shift, "cfg_scale": cfg_scale}
    opts = AvatarOptions(
        image=str(image),
        audio=str(audio),
        prompt=kw["prompt"],
        seed=seed,
        face_box=parse_face_box(face_box) if face_box else None,
        deepcache=kw["deepcache"],
        wrap=kw["wrap"],
        image_size=kw["image_size"],
        negative_prompt=kw["negative_prompt"],
        max_audio_seconds=kw["max_audio_seconds"],
        **{k: v for k, v in given.items() if v is not None},
    )
    AvatarPipeline.preflight(opts)  # bad photo, audio or face: an error before the weights load
    pipe = load_pipeline(model, device=kw["device"], dtype=kw["dtype"])
    if not isinstance(pipe, AvatarPipeline):
        raise InvalidOptionError(f"{model} is not an audio-driven Avatar model; --audio needs one")
    result = pipe.generate(opts, progress=_progress_bar("denoising"))
    out = save_avatar(pipe, result, output)
    typer.echo(f"wrote {out} ({result.frames} frames at {result.fps:g} fps with audio, seed {opts.seed})")


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
