"""The audio-driven avatar pipeline (HunyuanVideo-Avatar): a reference photo and a voice in, a talking video out.

Steps, as the release runs them (docs/avatar.md):
  photo -> resize_reference (short side to image_size, multiples of 64)          [H, W, 3] uint8
  audio -> read_audio (16 kHz mono) -> Whisper windows per 25 fps frame           [1, F, 10, K, C]
        -> pad_audio_frames -> avatar_timeline (latent length, kept frames)
  face  -> find_face (detector or face_box) -> face_mask -> latent grid           [1, 1, 1, h, w]
  ref   -> VAE encode of the photo repeated to 129 frames (posterior mean)       [1, 16, 33, h, w]
  text  -> LLaVA(prefix + prompt, photo), CLIP pooled; branches cond / negative / no_audio
  denoise: shifted windows, per-window audio slices, face mask x0.6 for steps 0-9, two-regime CFG, DeepCache
  keep the kept latent frames, decode in chunks, cut to F frames, mp4 at 25 fps + the input audio (AAC).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vitascope.errors import InvalidOptionError

log = logging.getLogger(__name__)

MOTION_EXP, MOTION_POSE = 30.0, 25.0  # the release's frozen motion buckets (audio_dataset.py)


@dataclass(frozen=True)
class AvatarOptions:
    """What a user may set; the defaults are the release's (sample_gpu_poor.py / its README)."""

    image: object  # path or RGB uint8 [H, W, 3]
    audio: object  # path of any common audio file, or float32 16 kHz mono samples [N]
    prompt: str = ""
    seed: int = 0
    steps: int = 50
    flow_shift: float = 5.0
    cfg_scale: float = 7.5
    image_size: int = 704
    fps: float = 25.0
    face_box: tuple[float, float, float, float] | None = None  # x, y, w, h in the input photo's pixels
    deepcache: bool = True
    wrap: bool = True  # the release's circular windows; False keeps windows inside the timeline
    negative_prompt: str | None = None  # None: the release's (T2V negative prompt + NEGATIVE_SUFFIX)
    max_audio_seconds: float | None = None

    def __post_init__(self):
        if not isinstance(self.prompt, str):
            raise InvalidOptionError("prompt must be a string")
        if not 1 <= int(self.steps) <= 1000:
            raise InvalidOptionError(f"steps must be between 1 and 1000, got {self.steps}")
        if self.flow_shift <= 0:
            raise InvalidOptionError(f"flow_shift must be > 0, got {self.flow_shift}")
        if self.cfg_scale < 1.0:
            raise InvalidOptionError(f"cfg_scale must be >= 1.0, got {self.cfg_scale}")
        if self.image_size < 64 or self.image_size % 64:
            raise InvalidOptionError(f"image_size must be a multiple of 64, got {self.image_size}")
        if float(self.fps) not in (25.0, 12.5):
            raise InvalidOptionError(f"the Avatar model runs at 25 (or 12.5) fps, got {self.fps}")
        if not 0 <= int(self.seed) < 2**63:
            raise InvalidOptionError(f"seed must be in [0, 2**63), got {self.seed}")

    def settings(self) -> dict:
        """Every setting, for the sidecar (inputs as given when they are paths)."""
        out = dataclasses.asdict(self)
        for k in ("image", "audio"):
            out[k] = str(out[k]) if isinstance(out[k], (str, Path)) else f"<array {np.shape(out[k])}>"
        return out


@dataclass
class AvatarResult:
    latents: torch.Tensor  # [1, 16, kept, h, w] float32
    frames: int  # video frames that match the audio
    samples: np.ndarray  # 16 kHz mono audio [N]
    fps: float
    metadata: dict


class AvatarPipeline:
    def __init__(
        self, dit, vae, llava, clip, whisper, feature_extractor, *, detector=None, identity=None, window=None
    ):
        """window: latent frames per denoising window (the release's 33; a model folder may state fewer in
        its transformers/avatar.json, as the bundled demo does)."""
        from vitascope.flow.avatar import WINDOW

        self.dit, self.vae, self.llava, self.clip = dit, vae, llava, clip
        self.whisper, self.feature_extractor, self.detector = whisper, feature_extractor, detector
        self.identity = identity or {}
        self.window = int(window or WINDOW)
        self.defaults: dict = {}  # the folder's generation defaults (avatar_loader.avatar_settings)

    @property
    def device(self) -> torch.device:
        return next(self.dit.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.dit.parameters()).dtype

    # ---- inputs ---------------------------------------------------------------------------------------------
    @staticmethod
    def read_inputs(opts: AvatarOptions):
        """(photo resized [H, W, 3], original size (w, h), samples [N]); every input error before any model."""
        from vitascope.media import read_image
        from vitascope.media_audio import read_audio
        from vitascope.models.audio.reference import resize_reference

        photo = read_image(opts.image) if isinstance(opts.image, (str, Path)) else np.asarray(opts.image)
        if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
            raise InvalidOptionError(
                f"the photo must be RGB uint8 [H, W, 3], got {photo.dtype} {photo.shape}"
            )
        if isinstance(opts.audio, (str, Path)):
            samples = read_audio(opts.audio, max_seconds=opts.max_audio_seconds)
        else:
            samples = np.asarray(opts.audio, dtype=np.float32).reshape(-1)
        return resize_reference(photo, opts.image_size), (photo.shape[1], photo.shape[0]), samples

    @staticmethod
    def preflight(opts: AvatarOptions, detector=None) -> None:
        """Read the photo and the audio and find the face (or check the given box): every input error before
        any model runs. The CLI calls it before loading the weights."""
        from vitascope.models.audio.face import check_box, find_face

        photo, (w, h), _ = AvatarPipeline.read_inputs(opts)
        if opts.face_box is not None:
            check_box(tuple(float(v) for v in opts.face_box), h, w)
        else:
            find_face(photo, detector=detector)

    def face(self, photo: np.ndarray, original_wh, opts: AvatarOptions) -> torch.Tensor:
        """Face mask at the latent grid [1, 1, 1, h, w]; a user box is in the input photo's pixels."""
        from vitascope.models.audio.face import check_box, face_mask, find_face, latent_face_mask

        H, W = photo.shape[:2]
        box = None
        if opts.face_box is not None:
            ow, oh = original_wh
            x, y, w, h = check_box(tuple(float(v) for v in opts.face_box), oh, ow)
            sx, sy = W / ow, H / oh
            box = (x * sx, y * sy, w * sx, h * sy)
        box = find_face(photo, face_box=box, detector=self.detector)
        s = self.vae.config.spatial_compression_ratio
        return latent_face_mask(face_mask(H, W, box), (H // s, W // s)), box

    @torch.no_grad()
    def reference_latents(self, photo: np.ndarray) -> torch.Tensor:
        """[1, 16, 33, h, w]: the photo repeated to 129 frames (one window), VAE posterior mean x scaling factor
        (the release draws a sample without a generator; the mean makes a run reproducible from its seed)."""
        x = torch.from_numpy(photo.copy()).permute(2, 0, 1).float() / 127.5 - 1.0  # [3, H, W]
        x = x[None, :, None].expand(-1, -1, 4 * self.window - 3, -1, -1)
        vdt = next(self.vae.parameters()).dtype
        self.vae.enable_tiling(self.tiling(*photo.shape[:2]))
        z = self.vae.encode(x.to(self.device, vdt))
        return z.float() * self.vae.config.scaling_factor

    @torch.no_grad()
    def text(self, prompts: list[str], photo: np.ndarray):
        """LLaVA states (with the release's mask quirk) + CLIP pooled -> DiTInputs kwargs."""
        from vitascope.models.dit.context import DiTInputs

        ts = self.llava.encode(prompts, photo)
        pooled = self.clip.encode(prompts)
        mask = ts.mask.to(self.device)
        count = torch.arange(mask.shape[1], device=self.device)[None] < mask.sum(1, keepdim=True)
        return DiTInputs(
            ts.states.to(self.device, self.dtype),
            mask,
            pooled.to(self.device, self.dtype),
            text_padded=True,
            extra={"attn_text_mask": count},  # the release's main attention: the first sum(mask) tokens
        )

    def negative_prompt(self, opts: AvatarOptions) -> str:
        from vitascope.models.text.llava_avatar import NEGATIVE_SUFFIX
        from vitascope.models.text.templates import NEGATIVE_PROMPT

        return opts.negative_prompt if opts.negative_prompt is not None else NEGATIVE_PROMPT + NEGATIVE_SUFFIX

    # ---- the orchestrator -----------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        opts: AvatarOptions,
        progress: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> AvatarResult:
        from vitascope.flow import shifted_sigmas
        from vitascope.flow.avatar import avatar_guidance, avatar_timeline, avatar_windows, pad_audio_frames
        from vitascope.flow.sampler import denoise
        from vitascope.flow.windows import count_windows, windowed_predict
        from vitascope.models.audio.whisper import audio_windows
        from vitascope.models.text.llava_avatar import PROMPT_PREFIX

        start = time.perf_counter()
        photo, original_wh, samples = self.read_inputs(opts)
        mask, box = self.face(photo, original_wh, opts)
        audio = audio_windows(samples, self.whisper, self.feature_extractor, fps=opts.fps)  # [1, F, 10, K, C]
        F = audio.shape[1]
        if F < 1:
            raise InvalidOptionError("the audio is shorter than one video frame (40 ms)")
        padded = pad_audio_frames(audio, self.window)
        timeline = avatar_timeline(padded.shape[1], self.window)
        extra = timeline.audio_frames - padded.shape[1]
        padded = torch.cat([padded, padded.new_zeros(1, extra, *padded.shape[2:])], dim=1).to(self.device)
        ref = self.reference_latents(photo)
        prompt = PROMPT_PREFIX + opts.prompt
        cond = self.text([prompt], photo)
        negative = self.text([self.negative_prompt(opts)], photo)
        common = {
            "ref_latents": ref,
            "motion_exp": torch.full((1, 4), MOTION_EXP, device=self.device),
            "motion_pose": torch.full((1, 4), MOTION_POSE, device=self.device),
            "fps": torch.full((1,), float(opts.fps), device=self.device),
        }
        branches = {"cond": cond, "negative": negative, "no_audio": cond}
        predict = self._window_predict(branches, common, padded, mask, timeline, opts)
        schedule = avatar_windows(timeline, circular=opts.wrap)
        H, W = photo.shape[:2]
        s = self.vae.config.spatial_compression_ratio
        g = torch.Generator("cpu").manual_seed(int(opts.seed))
        shape = (1, self.dit.config.out_channels, timeline.latent_frames, H // s, W // s)
        latents = torch.randn(shape, generator=g, dtype=torch.float32).to(self.device)
        sigmas = shifted_sigmas(opts.steps, opts.flow_shift)
        latents = denoise(
            latents,
            sigmas,
            windowed_predict(predict, schedule),
            avatar_guidance(opts.cfg_scale),
            progress=progress,
            should_stop=should_stop,
        )
        seconds = round(time.perf_counter() - start, 3)
        meta = {
            "task": "avatar",
            "options": opts.settings(),
            "prompt_used": prompt,
            "negative_prompt_used": self.negative_prompt(opts),
            "face_box_resized": [round(float(v), 2) for v in box],
            "size": [W, H],
            "audio_seconds": round(len(samples) / 16000, 4),
            "timeline": dataclasses.asdict(timeline),
            "windows_per_step": count_windows(schedule, timeline.latent_frames, opts.steps)[:1],
            "reference_latents": f"VAE posterior mean of the photo repeated to {4 * self.window - 3} frames",
            "model": self.identity,
            "seconds_denoise": seconds,
        }
        return AvatarResult(latents[:, :, : timeline.kept_frames], F, samples, float(opts.fps), meta)

    def _window_predict(self, branches, common, audio, mask, timeline, opts):
        """The per-window Predict: audio slice of the window (zeros for the uncond branches), face mask x the
        step's scale, and DeepCache (or every step full)."""
        from vitascope.flow.avatar import avatar_mask_scale, window_audio_indices
        from vitascope.models.audio.deepcache import AvatarDeepCache

        cache = AvatarDeepCache(self.dit, timeline.latent_frames, enabled=opts.deepcache)
        zeros = torch.zeros_like(audio[:, :1]).expand(-1, 4 * self.window - 3, *audio.shape[2:])
        face = mask.to(self.device)

        def predict(x_win, t, branch, step):
            idx = window_audio_indices(step.window, timeline).to(self.device)
            T = x_win.shape[2]
            window_audio = audio[:, idx[: 4 * T - 3]] if branch == "cond" else zeros[:, : 4 * T - 3]
            base = branches[branch]
            extra = {
                **base.extra,
                **common,
                "ref_latents": common["ref_latents"][:, :, :T],
                "audio": window_audio.to(self.dtype),
                "face_mask": face * avatar_mask_scale(step.index),
            }
            inputs = dataclasses.replace(base, extra=extra)
            return cache(x_win.to(self.dtype), t, inputs, step, branch)

        self.cache = cache
        return predict

    # ---- output ---------------------------------------------------------------------------------------------
    def tiling(self, height: int, width: int):
        """The release encodes and decodes with tiling on; spatial tiles only matter above 256 pixels."""
        from vitascope.models.vae import TilingConfig

        return TilingConfig(spatial=max(height, width) > 256, temporal=True)

    @torch.no_grad()
    def decode_chunks(self, latents: torch.Tensor, frames: int):
        """Yield uint8 frame chunks [f, H, W, 3], `frames` in all, equal to `vae.decode` with temporal tiling
        (16-frame tiles, stride 12, cross-faded) but one tile at a time: memory bounded by a tile."""
        from vitascope.models.vae.tiling import _spatial_decode, blend_

        vae = self.vae
        z = latents.to(next(vae.parameters()).dtype) / vae.config.scaling_factor  # [1, 16, T, h, w]
        rt, rs = vae.config.temporal_compression_ratio, vae.config.spatial_compression_ratio
        cfg = self.tiling(z.shape[3] * rs, z.shape[4] * rs)
        T = z.shape[2]
        lat_tile, lat_stride = cfg.tile_frames // rt, cfg.stride_frames // rt
        spatial = cfg.spatial and (z.shape[3] > cfg.tile_height // rs or z.shape[4] > cfg.tile_width // rs)
        plain = T <= lat_tile  # vae.decode decodes short clips whole
        prev, left = None, min(frames, (T - 1) * rt + 1)
        for i in range(0, T, lat_stride):
            win = z if plain else z[:, :, i : i + lat_tile + 1]
            win = _spatial_decode(vae, win, cfg) if spatial else vae.decode_plain(win)  # [1, 3, f, H, W]
            if i > 0:
                win = blend_(prev, win[:, :, 1:], cfg.tile_frames - cfg.stride_frames, dim=2)
            prev = win
            keep = win if plain else win[:, :, : cfg.stride_frames + (1 if i == 0 else 0)]
            video = (keep.float() / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 3, 0)  # [f, H, W, 3]
            video = (video * 255).round().to(torch.uint8).cpu().numpy()[:left]
            left -= len(video)
            if len(video):
                yield video
            if left <= 0 or plain:
                break
