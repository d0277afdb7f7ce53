"""The generation pipeline: text (and optionally an image) in, video frames out.

One class serves text-to-video and image-to-video; the I2V conditioning (token replace or latent concat) is
chosen by the model, not by the caller.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import numpy as np
import torch

from vitascope.errors import InvalidOptionError
from vitascope.pipelines.denoise import TextCondition
from vitascope.pipelines.options import GenerationOptions, Limits, ModelDefaults, validate
from vitascope.pipelines.result import GenerationResult

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
        # How images condition this model: the DiT's own type, or token replace for a T2V model that was
        # trained with first-frame conditioning (the demo model does both from one set of weights).
        self.i2v_mode = dit.config.image_condition_type or i2v_mode
        # False: temporal windows only when the video is longer than one window (diffusers' default:
        # 16-frame tiles, 12-frame stride); True: spatial tiles as well, for large frames on small GPUs.
        self.vae_tiling = False

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
            from vitascope.media import read_image

            image = read_image(options.image)
            resolution = self.defaults.i2v_resolution
            if (options.height is None or options.width is None) and resolution != "default":
                from vitascope.models.image import choose_bucket

                h, w = choose_bucket(image.shape[0], image.shape[1], resolution)
                options = dataclasses.replace(options, height=options.height or h, width=options.width or w)
        opts = options.resolve(self.defaults, limits)
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
        dt = next(self.dit.parameters()).dtype
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

        x = prepare_image(image, height, width).to(self.device, next(self.vae.parameters()).dtype)
        return self.vae.encode(x).float() * self.vae.config.scaling_factor

    # ---- 4. decode --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        z = latents.to(next(self.vae.parameters()).dtype) / self.vae.config.scaling_factor
        from vitascope.models.vae import TilingConfig

        self.vae.enable_tiling(TilingConfig(spatial=bool(self.vae_tiling), temporal=True))
        x = self.vae.decode(z)  # [1, 3, F, H, W] in about [-1, 1]
        video = (x.float() / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 3, 0)  # [F, H, W, 3]
        return video.cpu().numpy()

    # ---- the orchestrator -------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        options: GenerationOptions,
        limits: Limits | None = None,
        progress: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> GenerationResult:
        start = time.perf_counter()
        # 1. Options, image and size.
        opts, image = self.resolve(options, limits)
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
        # 4. Denoise (in context windows when the video is longer than the model's clip: pipelines/long.py).
        from vitascope.pipelines.long import sample_long

        latents, windows = sample_long(
            self, opts, cond, uncond, latents, image_latents, mode, progress, should_stop
        )
        # 5. Decode (latent concat spends its first 4 frames on the condition, as the reference drops them).
        video = self.decode(latents)
        if mode == "latent_concat":
            video = video[4:]
        seconds = time.perf_counter() - start
        log.info("generated %d frames at %dx%d in %.1f s", len(video), opts.width, opts.height, seconds)
        meta = {
            "options": opts.to_dict(),
            "model": self.identity,
            "seconds": round(seconds, 3),
            "frames": len(video),
        }
        if windows is not None:
            meta["windows"] = windows
        return GenerationResult(video=video, fps=opts.fps, options=opts, metadata=meta)
