"""`vitascope generate` and `vitascope demo`: parse, call the pipeline, write the video and its sidecar."""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path

import typer


def _progress_bar(desc: str, unit: str = "step"):
    from tqdm import tqdm

    bar = {"b": None}

    def update(step: int, total: int) -> None:
        if bar["b"] is None:
            bar["b"] = tqdm(total=total, desc=desc, unit=unit)
        bar["b"].update(step - bar["b"].n)
        if step == total:
            bar["b"].close()

    return update


def _load_bar():
    """A bar per loading stage (bytes placed on the device), for `load_pipeline(progress=...)`."""
    from tqdm import tqdm

    bars: dict = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = tqdm(total=total, desc=f"loading {stage}", unit="B", unit_scale=True)
        bars[stage].update(done - bars[stage].n)
        if done >= total:
            bars[stage].close()

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


def _pose_extra(motion, pose_json, pose_video, image) -> dict:
    """The motion source as `GenerationOptions.extra` entries, checked before the model loads."""
    from vitascope.errors import InvalidOptionError
    from vitascope.pipelines.pose import motion_source

    extra = {
        k: str(v)
        for k, v in (("motion", motion), ("pose_json", pose_json), ("pose_video", pose_video))
        if v is not None
    }
    if extra:
        motion_source(extra)
        if image is None:
            raise InvalidOptionError("a motion drives the figure in an input image: pass --image FIGURE.png")
    return extra


def generate(
    prompt: str | None = typer.Option(
        None, "--prompt", "-p", help="What the video shows (optional with an Avatar model)."
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
        None, "--image", "-i", help="First frame for image-to-video; the reference photo for an Avatar model."
    ),
    face_box: list[str] = typer.Option(
        [],
        "--face-box",
        help="Avatar: the face as x,y,w,h pixels of the photo (skips detection); one per --audio, in order.",
    ),
    emotion_image: Path | None = typer.Option(
        None, "--emotion-image", help="Avatar with an emotion module: a face showing the wanted expression."
    ),
    emotion: str | None = typer.Option(
        None, "--emotion", help="Avatar: a bundled expression: neutral, happy, sad, angry or surprised."
    ),
    deepcache: bool = typer.Option(
        True, "--deepcache/--no-deepcache", help="Avatar: DeepCache as the release runs it."
    ),
    wrap: bool = typer.Option(
        True, "--wrap/--no-wrap", help="Avatar: circular windows as the release (ties the end to the start)."
    ),
    image_size: int | None = typer.Option(
        None,
        "--image-size",
        help="Avatar: short side of the reference photo (default: the model's, 704 for the release).",
    ),
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
    vae_tiling: bool | None = typer.Option(
        None,
        "--vae-tiling/--no-vae-tiling",
        help="Spatial tiles in the VAE decode; default: chosen from the free memory (see --memory-budget).",
    ),
    memory_budget: float | None = typer.Option(
        None, "--memory-budget", help="GiB the VAE decode may use (default: free GPU / available CPU memory)."
    ),
    vae_decode: str = typer.Option(
        "auto",
        "--vae-decode",
        help="auto: a clip at once when it fits in memory, a longer video streamed (exact, memory flat in "
        "the length), temporal windows when neither fits; windows: always (the reference code's way); "
        "full: never; stream: always stream.",
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
    weights_key: str | None = typer.Option(
        None, "--weights-key", help="module (default) or ema: which weights of a Tencent .pt checkpoint."
    ),
    offload: str | None = typer.Option(
        None, "--offload", help="model: one component on the device at a time; block: DiT blocks too."
    ),
    quantize: str | None = typer.Option(None, "--quantize", help="fp8: e4m3 weights of the DiT blocks."),
    fp8_matmul: str = typer.Option(
        "auto", "--fp8-matmul", help="With --quantize: auto (fp8 matmuls on CUDA 8.9+ GPUs), on or off."
    ),
    cache: str | None = typer.Option(
        None, "--cache", help="Step cache POLICY[:THRESHOLD]: teacache, fbcache, deepcache."
    ),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile each DiT block."),
    cuda_graphs: bool = typer.Option(
        False, "--cuda-graphs", help="CUDA graphs: the blocks compiled in reduce-overhead mode (CUDA only)."
    ),
    attention: str | None = typer.Option(None, "--attention", help="sdpa, math, flash or sage."),
    plan: bool = typer.Option(False, "--plan", help="Print what sits where and the expected peak; exit."),
    sp: str = typer.Option(
        "ulysses", "--sp", help="Under torchrun: sequence parallel by ulysses (all-to-all) or ring attention."
    ),
    cfg_parallel: bool = typer.Option(
        False,
        "--cfg-parallel",
        help="Under torchrun with 2 x N processes: the two CFG branches on two halves, each over N.",
    ),
    motion: str | None = typer.Option(
        None,
        "--motion",
        help="Pose-driven: the figure in --image does a template (wave, jump, dance, squat, walk, gymnastics).",
    ),
    pose_json: Path | None = typer.Option(
        None,
        "--pose-json",
        help="Pose-driven: the motion of an OpenPose/DWPose keypoint JSON file or folder.",
    ),
    pose_video: Path | None = typer.Option(
        None, "--pose-video", help="Pose-driven: the motion of the figure in this video (figure analyzer)."
    ),
    audio: list[Path] = typer.Option(
        [],
        "--audio",
        help="With an Avatar model: the voice that drives the video; repeat it for several faces (matched left "
        "to right, or to --face-box in order). Otherwise: audio muxed into the mp4 (AAC), cut or padded to "
        "the video's length.",
    ),
) -> None:
    """Generate a video from a prompt (and optionally a first-frame image).

    Under `torchrun --nproc_per_node N vitascope generate ...` the DiT runs sequence parallel over N processes
    and rank 0 writes the output."""
    from vitascope.errors import InputFileError
    from vitascope.parallel.speed import SpeedOptions, apply_speed, shared_seed
    from vitascope.pipelines.loader import load_pipeline, pose_model_path
    from vitascope.pipelines.options import GenerationOptions, validate

    _quiet_transformers()
    if model is None and audio and image is not None:  # audio is a list: empty without --audio
        from vitascope.pipelines.avatar_loader import avatar_demo_folder

        model = avatar_demo_folder()  # a photo and a voice without --model: the bundled avatar demo
    if _is_avatar(model):
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
            emotion_image=emotion_image,
            emotion=emotion,
            deepcache=deepcache,
            wrap=wrap,
            image_size=image_size,
            max_audio_seconds=max_audio_seconds,
            device=device,
            dtype=dtype,
            weights_key=weights_key,
            sp=sp,
            cfg_parallel=cfg_parallel,
        )
    pose = _pose_extra(motion, pose_json, pose_video, image)
    if pose:
        model = model if model is not None else str(pose_model_path())
        prompt = prompt or ""  # filled from the motion and the image's background
    from vitascope.errors import InvalidOptionError

    if prompt is None:
        raise InvalidOptionError("--prompt is required (an Avatar model takes --image and --audio instead)")
    avatar_only = {"--face-box": face_box, "--emotion": emotion, "--emotion-image": emotion_image}
    used = [k for k, v in avatar_only.items() if v]
    if used or len(audio) > 1:
        raise InvalidOptionError(
            f"{', '.join(used) or 'several --audio'}: only with an Avatar model (--model pointing at one)"
        )
    audio = audio[0] if audio else None
    speed = SpeedOptions(
        offload=offload, quantize=quantize, compile=compile_, attention=attention, memory_budget=memory_budget,
        fp8_matmul=fp8_matmul, cuda_graphs=cuda_graphs,
    )  # fmt: skip
    _check_sp(sp)
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
        extra=_long_extra(window, window_overlap, riflex) | pose,
        cache=cache,
    )
    validate(opts)  # bad sizes fail before minutes of model loading
    if audio is not None and not audio.is_file():
        raise InputFileError(f"audio file not found: {audio}")
    from vitascope.convert.lora import parse_lora_spec

    loras = [parse_lora_spec(x, lora_scale) for x in lora]
    pipe = load_pipeline(
        model,
        device=device,
        dtype=dtype,
        loras=loras,
        lora_mode=lora_mode,
        weights_key=weights_key,
        progress=_load_bar(),
    )
    if vae_decode not in ("auto", "full", "windows", "stream"):
        raise InvalidOptionError(f"--vae-decode must be auto, full, windows or stream, got {vae_decode!r}")
    pipe.vae_decode, pipe.memory_budget = vae_decode, memory_budget
    decision = _choose_tiling(pipe, opts, vae_tiling, memory_budget)
    if plan:
        from vitascope.parallel.speed import describe_plan

        for line in describe_plan(pipe, speed, _activation_bytes(pipe, opts)):
            typer.echo(line)
        typer.echo(decision)
        return
    apply_speed(pipe, speed)
    rank = _start_parallel(pipe, sp, cfg_parallel)
    opts = dataclasses.replace(opts, seed=shared_seed(opts.seed))
    lead = rank == 0  # under sequence parallel every rank denoises; rank 0 decodes and writes
    result = pipe.generate(
        opts,
        progress=_progress_bar("denoising") if lead else None,
        output=output if lead else None,
        audio=audio,
        decode_progress=_progress_bar("decoding", unit="frame") if lead else None,
        # the sidecar keeps both prompts
        metadata={"prompt_rewrite": rewritten.to_dict()} if rewritten is not None else None,
    )
    if not lead:
        return
    o = result.options
    typer.echo(
        f"wrote {result.path} ({result.num_frames} frames, {o.width}x{o.height}, seed {o.seed}, "
        f"{result.metadata['seconds']} s)"
    )


def _choose_tiling(pipe, opts, vae_tiling: bool | None, budget_gib: float | None) -> str:
    """Set pipe.vae_tiling: as asked, or (neither flag given) chosen from the memory. Returns the decision."""
    if vae_tiling is not None:
        pipe.vae_tiling = vae_tiling
        return f"vae decode: spatial tiles {'on' if vae_tiling else 'off'} (as asked)"
    from vitascope.parallel.memory import choose_vae_tiling

    o = opts.resolve(pipe.defaults)
    size = next(pipe.vae.parameters()).element_size()
    d = choose_vae_tiling(pipe.vae.config, o.frames, o.height, o.width, pipe.device, size, budget_gib)
    pipe.vae_tiling = d.tiling or False
    return d.describe()


def _start_parallel(pipe, sp: str, cfg_parallel: bool) -> int:
    """torchrun's environment is read here, in the CLI; the library takes it as arguments."""
    from vitascope.parallel.speed import start_sequence_parallel

    world, local = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("LOCAL_RANK", "0"))
    return start_sequence_parallel(pipe, world, local, kind=sp, cfg=cfg_parallel)


def _check_sp(kind: str) -> None:
    from vitascope.errors import InvalidOptionError
    from vitascope.parallel.sequence import KINDS

    if kind not in KINDS:
        raise InvalidOptionError(f"--sp must be one of {', '.join(KINDS)}, got {kind!r}")


def _is_avatar(model) -> bool:
    """Whether --model is the HunyuanVideo-Avatar release folder (file checks only, no weights read)."""
    if model is None:
        return False
    from vitascope.convert.folder import detect_folder
    from vitascope.errors import VitascopeError

    try:
        return detect_folder(model).meta.get("release") == "avatar"
    except VitascopeError:
        return False  # the normal path reports what is wrong with the folder


def _generate_avatar(*, model, image, audio, output, steps, seed, flow_shift, cfg_scale, face_box, **kw):
    """`generate` with an Avatar model: every input is checked before the weights load."""
    from vitascope.errors import InvalidOptionError
    from vitascope.models.audio.face import parse_face_box
    from vitascope.parallel.speed import shared_seed
    from vitascope.pipelines.avatar import AvatarOptions, AvatarPipeline
    from vitascope.pipelines.avatar_loader import load_avatar_pipeline
    from vitascope.pipelines.avatar_output import save_avatar

    if image is None or not audio:
        raise InvalidOptionError(
            f"{model} is the audio-driven Avatar model: pass --image PHOTO and --audio VOICE"
        )
    boxes = [parse_face_box(b) for b in face_box]
    if len(audio) > 1 and boxes and len(boxes) != len(audio):
        raise InvalidOptionError(
            f"{len(audio)} --audio but {len(boxes)} --face-box: give one box per voice, in the same order"
        )
    from vitascope.pipelines.avatar_loader import avatar_folder, avatar_settings

    defaults = avatar_settings(avatar_folder(model)).get("defaults", {})  # the folder's (the demo's) defaults
    given = {
        "steps": steps,
        "flow_shift": flow_shift,
        "cfg_scale": cfg_scale,
        "image_size": kw["image_size"],
        "negative_prompt": kw["negative_prompt"],
    }
    given = {k: v if v is not None else defaults.get(k) for k, v in given.items()}
    opts = AvatarOptions(
        image=str(image),
        audio=str(audio[0]) if len(audio) == 1 else [str(a) for a in audio],
        prompt=kw["prompt"],
        seed=seed,
        face_box=(boxes[0] if len(boxes) == 1 else tuple(boxes)) if boxes else None,
        emotion_image=str(kw["emotion_image"]) if kw["emotion_image"] else None,
        emotion=kw["emotion"],
        deepcache=kw["deepcache"],
        wrap=kw["wrap"],
        max_audio_seconds=kw["max_audio_seconds"],
        **{k: v for k, v in given.items() if v is not None},
    )
    _check_sp(kw["sp"])
    AvatarPipeline.preflight(opts)  # bad photo, audio or face: an error before the weights load
    pipe = load_avatar_pipeline(model, device=kw["device"], dtype=kw["dtype"], weights_key=kw["weights_key"])
    rank = _start_parallel(pipe, kw["sp"], kw["cfg_parallel"])
    opts = dataclasses.replace(opts, seed=shared_seed(opts.seed))
    result = pipe.generate(opts, progress=_progress_bar("denoising") if rank == 0 else None)
    if rank:  # under torchrun every rank denoises; rank 0 decodes and writes
        return
    out = save_avatar(pipe, result, output)
    voices = f"{opts.speakers} voices mixed" if opts.speakers > 1 else "audio"
    typer.echo(f"wrote {out} ({result.frames} frames at {result.fps:g} fps with {voices}, seed {opts.seed})")


def _activation_bytes(pipe, opts) -> int:
    """A rough DiT activation estimate: the widest per-block tensors for the token count of this size."""
    o = opts.resolve(pipe.defaults)
    c, (ft, fs) = pipe.dit.config, pipe.latent_scale
    pt, ph, pw = c.patch_size
    tokens = ((o.frames - 1) // ft + 1) // pt * (o.height // fs // ph) * (o.width // fs // pw) + 256
    width = 3 * c.hidden_size + c.mlp_hidden + 2 * c.hidden_size  # qkv, mlp input, residual stream, output
    return tokens * width * next(pipe.dit.parameters()).element_size()


def demo(
    out: Path = typer.Option(Path("outputs/demo"), "--out", help="Folder for the samples."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Text-to-video and image-to-video with the bundled demo model, and a talking face (photo + voice) with
    the bundled avatar demo; prints where the files are."""
    from vitascope.media import write_png_frames
    from vitascope.pipelines.loader import load_pipeline
    from vitascope.pipelines.options import GenerationOptions
    from vitascope.synthetic import render, sample_scene

    _quiet_transformers()
    pipe = load_pipeline(None, device="cpu")
    d = pipe.defaults
    t2v_prompt = "a red circle moving right on a black background"
    t2v_path = pipe.generate(
        GenerationOptions(prompt=t2v_prompt, seed=seed),
        progress=_progress_bar("text-to-video"),
        output=out / "t2v.mp4",
    ).path

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
    i2v_path = pipe.generate(
        GenerationOptions(prompt=i2v_prompt, task="i2v", image=str(image_path), seed=seed),
        progress=_progress_bar("image-to-video"),
        output=out / "i2v.mp4",
    ).path
    typer.echo(f"text-to-video:  {t2v_path}  ({t2v_prompt!r})")
    typer.echo(f"image-to-video: {i2v_path}  (input {image_path}, {i2v_prompt!r})")
    from vitascope.pipelines.avatar_demo import talking_sample

    talking = talking_sample(out, seed, progress=_progress_bar("talking face"))
    typer.echo(
        f"talking face:   {talking}  (input {out / 'talking_input.png'} + {out / 'talking_input.wav'})"
    )
