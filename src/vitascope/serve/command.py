"""`vitascope serve`: the HTTP API and the web UI over one model and one persistent queue."""

from __future__ import annotations

import logging
from pathlib import Path

import typer


def serve(
    model: str | None = typer.Option(
        None, "--model", help="Model folder; the bundled demo model when omitted."
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to bind; 0.0.0.0 exposes it (set --token)."
    ),
    port: int = typer.Option(8000, "--port"),
    data: Path = typer.Option(Path("vitascope-data"), "--data", help="Job store, uploads and outputs."),
    token: str | None = typer.Option(
        None, "--token", help="Require 'Authorization: Bearer TOKEN' on every route."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:1, ..."),
    devices: str | None = typer.Option(
        None, "--devices", help="One worker per listed device over one queue, e.g. cuda:0,cuda:1 or cpu,cpu."
    ),
    dtype: str = typer.Option("float32", "--dtype", help="float32, bfloat16 or float16."),
    store: Path | None = typer.Option(
        None, "--store", help="SQLite file of the job store (default DATA/jobs.sqlite)."
    ),
    max_queue: int = typer.Option(64, "--max-queue", help="Waiting jobs before new ones get 429."),
    max_upload_mb: float = typer.Option(10.0, "--max-upload-mb", help="Largest accepted image upload."),
    max_audio_seconds: float = typer.Option(
        60.0, "--max-audio-seconds", help="Longest accepted audio of an avatar job."
    ),
    max_frames: int = typer.Option(
        1025, "--max-frames", help="Most frames per video at any size (see also --max-video-pixels)."
    ),
    max_video_pixels: int = typer.Option(
        129 * 1280 * 720,
        "--max-video-pixels",
        help="Largest frames*height*width (the DiT's memory; default: 129 frames at 720p).",
    ),
    max_steps: int = typer.Option(100, "--max-steps"),
    max_pixels: int = typer.Option(1280 * 720, "--max-pixels", help="Largest height*width per frame."),
    ui: bool = typer.Option(True, "--ui/--no-ui", help="Serve the web UI at /ui."),
    lora_dir: Path | None = typer.Option(
        None, "--lora-dir", help="Folder of LoRA .safetensors files jobs may name (by file stem)."
    ),
    offload: str | None = typer.Option(
        None, "--offload", help="model: one component on the device at a time; block: DiT blocks too."
    ),
    quantize: str | None = typer.Option(None, "--quantize", help="fp8: e4m3 weights of the DiT blocks."),
    fp8_matmul: str = typer.Option(
        "auto", "--fp8-matmul", help="With --quantize: auto (fp8 matmuls on CUDA 8.9+ GPUs), on or off."
    ),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile each DiT block."),
    cuda_graphs: bool = typer.Option(
        False, "--cuda-graphs", help="CUDA graphs: the blocks compiled in reduce-overhead mode (CUDA only)."
    ),
    attention: str | None = typer.Option(None, "--attention", help="sdpa, math, flash or sage."),
) -> None:
    """Serve the HTTP API (/v1/jobs, docs at /docs) and the web UI (/ui) with a queue that survives restarts."""
    import uvicorn

    from vitascope.errors import ModelFolderError
    from vitascope.parallel.speed import SpeedOptions
    from vitascope.pipelines.options import Limits
    from vitascope.serve.app import create_app
    from vitascope.serve.config import ServeConfig

    if not logging.getLogger().handlers:  # `python -m vitascope.serve.app` skips the CLI's logging set-up
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if model is not None and not Path(model).is_dir():  # fail now, not in the worker after the port is open
        raise ModelFolderError(
            f"--model {model} is not a folder; pass a model folder or omit it for the demo model"
        )
    config = ServeConfig(
        data=data,
        model=model,
        host=host,
        port=port,
        token=token,
        device=devices.split(",")[0].strip() if devices else device,
        devices=tuple(d.strip() for d in devices.split(",") if d.strip()) if devices else (),
        dtype=dtype,
        store_path=store,
        limits=Limits(
            max_frames=max_frames,
            max_pixels=max_pixels,
            max_steps=max_steps,
            max_video_pixels=max_video_pixels,
        ),
        max_queue=max_queue,
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        max_audio_seconds=max_audio_seconds,
        ui=ui,
        lora_dir=lora_dir,
        speed=SpeedOptions(
            offload=offload, quantize=quantize, fp8_matmul=fp8_matmul, compile=compile_, attention=attention,
            cuda_graphs=cuda_graphs,
        ),
    )
    app = create_app(config)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=30)
