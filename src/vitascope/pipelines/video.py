"""The generation pipeline: text (and optionally an image) in, a video file (or frames) out.

One class serves text-to-video and image-to-video; the I2V conditioning (token replace or latent concat) is
chosen by the model, not by the caller. With an output path the VAE decode streams window by window into the
file, so host memory does not grow with the number of frames; without one the frames come back in memory.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from vitascope.errors import CancelledError, InvalidOptionError
from vitascope.pipelines.denoise import TextCondition
from vitascope.pipelines.options import GenerationOptions, Limits, ModelDefaults, validate
from vitascope.pipelines.result import GenerationResult

Progress = Callable[[int, int], None]  # (done, total)
log = logging.getLogger(__name__)


class VideoPipeline:
    def __init__(
        self,
        dit,
        vae,
        text_encoder,
        clip_encoder,
        *,
        defaults: ModelDefaults,
        identity: dict,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        i2v_text_encoder=None,
        i2v_mode: str | None = None,
    ):
        self.dit, self.vae = dit, vae
        self.text_encoder, self.clip_encoder, self.i2v_text_encoder = (
            text_encoder,
            clip_encoder,
            i2v_text_encoder,
        )
        self.defaults, self.identity = defaults, identity
        self.device = torch.device(device)
        self.dtype = dtype  # compute dtype of the DiT and VAE (stated by the loader, never probed)
        # How images condition this model: the DiT's own type, or token replace for a T2V model that was
        # trained with first-frame conditioning (the demo model does both from one set of weights).
        self.i2v_mode = dit.config.image_condition_type or i2v_mode
        # False: no spatial tiles; True: spatial tiles as well, for large frames on small GPUs.
        self.vae_tiling = False
        # Temporal windows (diffusers' 16-frame tiles, 12-frame stride): "auto" only when the untiled decode
        # would not fit the memory budget, "windows" always (the reference's behaviour), "full" never.
        # See pipelines/decode_plan.py for why windows are not the default.
        self.vae_decode = "auto"
        self.memory_budget: float | None = None  # GiB for the decode; None: free GPU / available RAM
        self.cfg_parallel = (
            None  # CFG in parallel over two halves of the ranks (parallel.cfg), set from outside
        )

    @property
    def tasks(self) -> tuple[str, ...]:
        if self.text_encoder is None:  # an LLaVA-only I2V release: the image is part of every prompt
            return ("i2v",)
        return ("t2v", "i2v") if self.i2v_mode else ("t2v",)

    @property
    def latent_scale(self) -> tuple[int, int]:
        c = self.vae.config
        return c.temporal_compression_ratio, c.spatial_compression_ratio

    # ---- 1. options -------------------------------------------------------------------------------------------
    def resolve(self, options: GenerationOptions, limits: Limits | None = None):
        """Fill defaults, read the image, choose the I2V size; returns (options, image uint8 [H, W, 3] or None)."""
        if options.task not in self.tasks:
            raise InvalidOptionError(f"this model does {', '.join(self.tasks)} only, not {options.task!r}")
        image = None
        if options.task == "i2v":
            from vitascope.media import load_image

            image = load_image(options.image)  # a path is read and checked; pixels are used as they are
            resolution = self.defaults.i2v_resolution
            if (options.height is None or options.width is None) and resolution != "default":
                from vitascope.models.image import choose_bucket

                h, w = choose_bucket(image.shape[0], image.shape[1], resolution)
                options = dataclasses.replace(options, height=options.height or h, width=options.width or w)
        opts = options.resolve(self.defaults, limits)
        if pose_requested(opts):
            from vitascope.pipelines.pose import motion_source, require_pose_model

            motion_source(opts.extra)  # a bad template name or a missing file, before any work
            require_pose_model(self.dit)
            if opts.task != "i2v":
                raise InvalidOptionError("a motion drives the figure in an input image: pass --image")
        if opts.task == "t2v" and self.dit.config.image_condition_type == "latent_concat":
            raise InvalidOptionError("this is an image-to-video model (latent concat): pass --image")
        validate(opts, limits)
        return opts, image

    # ---- 2. text ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_prompt(self, prompts: list[str], image: np.ndarray | None = None) -> TextCondition:
        if image is not None and self.i2v_text_encoder is not None:
            ts = self.i2v_text_encoder.encode(prompts, [image] * len(prompts))
        else:
            ts = self.text_encoder.encode(prompts)
        pooled = self.clip_encoder.encode(prompts)
        dt = self.dtype
        return TextCondition(
            ts.states.to(self.device, dt), ts.mask.to(self.device), pooled.to(self.device, dt)
        )

    # ---- 3. latents -------------------------------------------------------------------------------------------
    def initial_noise(self, opts: GenerationOptions, channels: int) -> torch.Tensor:
        """float32 noise drawn exactly as diffusers draws it: one CPU generator, shape (B, C, T, H, W)."""
        ft, fs = self.latent_scale
        shape = (1, channels, (opts.frames - 1) // ft + 1, opts.height // fs, opts.width // fs)
        g = torch.Generator("cpu").manual_seed(int(opts.seed))
        return torch.randn(shape, generator=g, dtype=torch.float32).to(self.device)

    @torch.no_grad()
    def encode_image(self, image: np.ndarray, height: int, width: int) -> torch.Tensor:
        """Clean, scaled latent of the first frame: [1, C, 1, h, w] (the posterior mode, as the reference)."""
        from vitascope.models.image import prepare_image

        x = prepare_image(image, height, width).to(self.device, self.dtype)
        return self.vae.encode(x, tiling=self.tiling()).float() * self.vae.config.scaling_factor

    def tiling(self, latent_shape: tuple[int, ...] | None = None, method: str | None = None):
        """The VAE tiling of this pipeline, passed to each encode/decode call (the VAE's own is never set):
        temporal windows as `vae_decode` decides for latents of `latent_shape` (None: windows unless "full"; `method`: an already made `decode_method` decision),
        plus spatial tiles when `vae_tiling` is on (True: diffusers' 256-px tiles; a TilingConfig: those tiles,
        as `parallel.memory.choose_vae_tiling` picks them)."""
        from vitascope.models.vae import TilingConfig

        if latent_shape is None:
            temporal = self.vae_decode != "full"
        else:
            temporal = (method or self.decode_method(latent_shape)) == "windows"
        if isinstance(self.vae_tiling, TilingConfig):
            return dataclasses.replace(self.vae_tiling, temporal=temporal)
        return TilingConfig(spatial=bool(self.vae_tiling), temporal=temporal)

    def decode_method(self, latent_shape: tuple[int, ...]) -> str:
        """"full", "stream" or "windows" for latents of `latent_shape` (pipelines/decode_plan.py): videos longer
        than the model's native clip stream under `auto`, so memory stays flat in the length."""
        from vitascope.models.vae import TilingConfig
        from vitascope.pipelines.decode_plan import decode_method

        native = (self.defaults.frames - 1) // self.latent_scale[0] + 1
        tiles = isinstance(self.vae_tiling, TilingConfig) or bool(self.vae_tiling)
        return decode_method(
            self.vae_decode, self.vae.config, latent_shape, self.dtype, self.device,
            budget_gib=self.memory_budget, native_latents=native, spatial_tiles=tiles,
        )  # fmt: skip

    # ---- 4. decode --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def decode_chunks(self, latents: torch.Tensor, progress: Progress | None = None) -> Iterator[np.ndarray]:
        """float32 [f, H, W, 3] in [0, 1], in chunks: one piece, exact streaming chunks, or one per temporal
        window (diffusers' 16-frame tiles, stride 12; spatial tiles too when `vae_tiling`), as `decode_method`
        decides. Only one chunk is alive at a time. The VAE's own tiling is left alone."""
        from vitascope.pipelines.decode_plan import iter_decoded

        z = latents.to(self.dtype) / self.vae.config.scaling_factor
        method = self.decode_method(tuple(z.shape))  # decided once: it reads the memory budget
        tiling = self.tiling(tuple(z.shape), method)
        for x in iter_decoded(self.vae, z, method, tiling, progress):  # [1, 3, f, H, W]
            yield (x.float() / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 3, 0).cpu().numpy()  # [f, H, W, 3]

    def decode(self, latents: torch.Tensor, progress: Progress | None = None) -> np.ndarray:
        """The whole video in memory: float32 [F, H, W, 3] in [0, 1]."""
        return np.concatenate(list(self.decode_chunks(latents, progress)))

    def _decode_and_write(
        self, latents, opts, mode, start, output=None, audio=None, progress=None, should_stop=None, extra=None
    ) -> GenerationResult:
        """Steps 5-6 of `generate`: decode, and either stream into `output` or keep the frames in memory."""
        from vitascope.media import to_uint8
        from vitascope.pipelines.output import write_sidecar, write_stream

        # latent concat spends its first 4 frames on the condition; the reference drops them
        chunks = _skip_frames(self.decode_chunks(latents, progress), 4 if mode == "latent_concat" else 0)
        chunks = _stop_between(chunks, should_stop)  # a cancel during a long decode leaves no partial file
        video, path = None, None
        if output is None:
            video = np.concatenate(list(chunks))
            frames = len(video)
        else:
            path, frames = write_stream(
                (to_uint8(c) for c in chunks), output, fps=opts.fps, audio=audio, total=opts.frames
            )
        seconds = time.perf_counter() - start
        log.info("generated %d frames at %dx%d in %.1f s", frames, opts.width, opts.height, seconds)
        meta = {
            "options": opts.to_dict(),
            "model": self.identity,
            "seconds": round(seconds, 3),
            "frames": frames,
            **(extra or {}),
        }
        result = GenerationResult(
            fps=opts.fps, options=opts, metadata=meta, video=video, path=path, num_frames=frames
        )
        if path is not None:
            write_sidecar(result, audio)
        return result

    # ---- the orchestrator -------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        options: GenerationOptions,
        limits: Limits | None = None,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
        *,
        output: str | Path | None = None,
        audio=None,
        decode_progress: Progress | None = None,
        metadata: dict | None = None,
    ) -> GenerationResult:
        """Generate one video. With `output` (an .mp4 path, or a folder ending in '/' for PNG frames) the
        decode streams into that file and its JSON sidecar, optionally muxing `audio` (a file path or a
        `vitascope.mux.AudioTrack`), and the result holds the path, not the frames. Without it the result
        holds the float frames (`result.video`). `progress(step, steps)` follows denoising,
        `decode_progress(frames, total)` the VAE decode. `metadata` is added to the result's metadata (and
        so to the sidecar)."""
        start = time.perf_counter()
        # 1. Options, image and size; a pose-driven request also gets its skeleton latents (pipelines/pose.py).
        opts, image = self.resolve(options, limits)
        frame_inputs, extra_meta = None, {}
        if image is not None and pose_requested(opts):
            from vitascope.pipelines.pose import pose_inputs

            frame_inputs, drive = pose_inputs(self, opts, image)
            extra_meta["pose"] = drive.to_dict()
            if not opts.prompt:
                from vitascope.synthetic.figures.clips import figure_caption

                motion = opts.extra.get("motion") or "poses"
                opts = dataclasses.replace(opts, prompt=figure_caption(motion, drive.background))
        # 2. Text conditions (the negative one only when true CFG is on).
        cond = self.encode_prompt([opts.prompt], image)
        uncond = None
        if opts.cfg_scale > 1.0:
            neg_image = np.zeros_like(image) if image is not None else None  # the reference's black image
            uncond = self.encode_prompt([opts.negative_prompt or ""], neg_image)
        # 3. Noise, and the image latent for I2V.
        out_ch = self.dit.config.out_channels
        latents = self.initial_noise(opts, out_ch)
        image_latents, mode = None, None
        if image is not None:
            mode = self.i2v_mode
            first = self.encode_image(image, opts.height, opts.width)  # [1, C, 1, h, w]
            if opts.i2v_stability:  # a tiny SDEdit-style anchor toward the image
                latents = latents * 0.999 + first.repeat(1, 1, latents.shape[2], 1, 1) * (1 - 0.999)
            image_latents = first.repeat(1, 1, latents.shape[2], 1, 1) if mode == "latent_concat" else first
            if mode == "latent_concat":
                image_latents[:, :, 1:] = 0
        # 4. Denoise (through a step cache, which also counts the DiT calls).
        from vitascope.parallel.cache import StepCache

        cache = StepCache.parse(opts.cache).install(self.dit)  # replaces one left by a failed run
        # Any length: context windows when the video is longer than the model's clip (pipelines/long.py).
        from vitascope.pipelines.long import sample_long

        latents, windows = sample_long(
            self,
            opts,
            cond,
            uncond,
            latents,
            image_latents,
            mode,
            progress,
            should_stop,
            cache.wrap,
            frame_inputs,
        )
        cache.remove()
        speed = {
            **(self.speed.to_dict() if getattr(self, "speed", None) is not None else {}),
            "cache": cache.spec,
            "dit_calls": dict(cache.stats),
            "vae_spatial_tile": self.tiling().tile_height if self.tiling().spatial else None,
        }
        # 5-6. Decode, then stream into the output file or keep the frames in memory.
        return self._decode_and_write(
            latents,
            opts,
            mode,
            start,
            output,
            audio,
            decode_progress,
            should_stop,
            {"speed": speed, **({"windows": windows} if windows else {}), **extra_meta, **(metadata or {})},
        )


def pose_requested(opts: GenerationOptions) -> bool:
    """Whether the options ask for pose-driven generation (a motion template, keypoint JSON or pose video)."""
    return any(opts.extra.get(k) for k in ("motion", "pose_json", "pose_video"))


def _stop_between(chunks: Iterator[np.ndarray], should_stop) -> Iterator[np.ndarray]:
    for chunk in chunks:
        if should_stop is not None and should_stop():
            raise CancelledError("cancelled during the VAE decode")
        yield chunk


def _skip_frames(chunks: Iterator[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """Drop the first n frames of a chunked video."""
    for chunk in chunks:
        if n >= len(chunk):
            n -= len(chunk)
            continue
        yield chunk[n:]
        n = 0
