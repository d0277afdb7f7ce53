"""The audio-driven avatar pipeline (HunyuanVideo-Avatar): a reference photo and a voice in, a talking video out.

Steps, as the release runs them (docs/avatar.md):
  photo -> resize_reference (short side to image_size, multiples of 64)          [H, W, 3] uint8
  audio -> read_audio (16 kHz mono) -> Whisper windows per 25 fps frame           [1, F, 10, K, C]
        -> pad_audio_frames -> avatar_timeline (latent length, kept frames)
  face  -> find_face (detector or face_box) -> face_mask -> latent grid           [1, 1, 1, h, w]
  several voices (ours): tracks [N, S] -> windows [1, N, F, 10, K, C]; faces left to right (or the given
        boxes in order) -> disjoint masks [1, N, 1, h, w] (models/audio/speakers.py); the mp4 gets the mix
  emotion (ours): a reference image (bundled name or file) resized to the photo -> VAE -> [1, 16, 1, h, w],
        in the cond and no_audio branches (so the text guidance of steps 0-9 also pushes towards it)
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
    audio: (
        object  # path of any common audio file, or float32 16 kHz mono samples [N]; or a list: one per face
    )
    prompt: str = ""
    seed: int = 0
    steps: int = 50
    flow_shift: float = 5.0
    cfg_scale: float = 7.5
    image_size: int = 704
    fps: float = 25.0
    face_box: tuple | None = None  # x, y, w, h in the input photo's pixels; or one box per voice, in order
    deepcache: bool = True
    wrap: bool = True  # the release's circular windows; False keeps windows inside the timeline
    negative_prompt: str | None = None  # None: the release's (T2V negative prompt + NEGATIVE_SUFFIX)
    max_audio_seconds: float | None = None
    emotion_image: object = None  # path or RGB uint8 [H, W, 3] of the wanted expression (emotion module)
    emotion: str | None = None  # or a bundled reference: neutral, happy, sad, angry, surprised

    def __post_init__(self):
        from vitascope.pipelines.avatar_inputs import MAX_SPEAKERS, box_list, check_emotion, voice_list

        voices = voice_list(self.audio)
        if not 1 <= len(voices) <= MAX_SPEAKERS:
            raise InvalidOptionError(f"give 1 to {MAX_SPEAKERS} audio tracks, got {len(voices)}")
        boxes = box_list(self.face_box)
        if boxes is not None and len(voices) > 1 and len(boxes) != len(voices):
            raise InvalidOptionError(
                f"{len(voices)} audio tracks but {len(boxes)} face box(es): give one box per voice, in order"
            )
        if boxes is not None and len(voices) == 1 and len(boxes) != 1:
            raise InvalidOptionError(f"one audio track but {len(boxes)} face boxes")
        check_emotion(self.emotion, self.emotion_image)
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
        from vitascope.pipelines.avatar_inputs import describe, voice_list

        out = dataclasses.asdict(self)
        out["image"] = describe(self.image)
        voices = [describe(v) for v in voice_list(self.audio)]
        out["audio"] = voices[0] if len(voices) == 1 and not isinstance(self.audio, (list, tuple)) else voices
        if self.emotion_image is not None:
            out["emotion_image"] = describe(self.emotion_image)
        return out

    @property
    def speakers(self) -> int:
        from vitascope.pipelines.avatar_inputs import voice_list

        return len(voice_list(self.audio))


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
        self.cfg_parallel = (
            None  # CFG in parallel over two halves of the ranks (parallel.cfg), set from outside
        )
        self.window = int(window or WINDOW)
        self.vae_decode = "auto"  # temporal windows only when the whole decode would not fit (decode_plan.py)
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
        """(photo resized [H, W, 3], original size (w, h), tracks [N, S] one per voice); every input error
        before any model."""
        from vitascope.media import read_image
        from vitascope.models.audio.reference import resize_reference
        from vitascope.pipelines.avatar_inputs import read_tracks

        photo = read_image(opts.image) if isinstance(opts.image, (str, Path)) else np.asarray(opts.image)
        if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
            raise InvalidOptionError(
                f"the photo must be RGB uint8 [H, W, 3], got {photo.dtype} {photo.shape}"
            )
        tracks = read_tracks(opts.audio, opts.max_audio_seconds)
        return resize_reference(photo, opts.image_size), (photo.shape[1], photo.shape[0]), tracks

    @staticmethod
    def preflight(opts: AvatarOptions, detector=None) -> None:
        """Read the photo, the audio and the emotion image and find the faces (or check the given boxes):
        every input error before any model runs. The CLI calls it before loading the weights."""
        from vitascope.pipelines.avatar_inputs import read_emotion

        photo, original_wh, tracks = AvatarPipeline.read_inputs(opts)
        _find_boxes(photo, original_wh, opts, len(tracks), detector)
        read_emotion(opts.emotion, opts.emotion_image)

    def face(self, photo: np.ndarray, original_wh, opts: AvatarOptions, speakers: int = 1):
        """Face masks at the latent grid [1, N, 1, h, w] (N = speakers) and the boxes in the resized photo;
        a user box is in the input photo's pixels."""
        from vitascope.models.audio.face import latent_face_mask
        from vitascope.models.audio.speakers import speaker_masks

        H, W = photo.shape[:2]
        boxes = _find_boxes(photo, original_wh, opts, speakers, self.detector)
        s = self.vae.config.spatial_compression_ratio
        return latent_face_mask(speaker_masks(H, W, boxes), (H // s, W // s)), boxes

    @torch.no_grad()
    def emotion_latents(self, image: np.ndarray, size_hw) -> torch.Tensor:
        """[1, C, 1, h, w]: the emotion reference resized to the photo's size, VAE posterior mean x scaling."""
        from PIL import Image

        H, W = size_hw
        image = np.asarray(Image.fromarray(image).resize((W, H), Image.LANCZOS))
        x = torch.from_numpy(image.copy()).permute(2, 0, 1).float() / 127.5 - 1.0  # [3, H, W]
        vdt = next(self.vae.parameters()).dtype
        z = self.vae.encode(x[None, :, None].to(self.device, vdt))
        return z.float() * self.vae.config.scaling_factor

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
        from vitascope.pipelines.avatar_inputs import mix_tracks, read_emotion

        start = time.perf_counter()
        photo, original_wh, tracks = self.read_inputs(opts)  # tracks [N, S]
        emotion_image = read_emotion(opts.emotion, opts.emotion_image)
        if emotion_image is not None and not getattr(self.dit, "has_emotion", False):
            raise InvalidOptionError(
                "this Avatar model has no emotion module (emotion_in / emotion_blocks): --emotion and "
                "--emotion-image need a model trained with one"
            )
        mask, boxes = self.face(photo, original_wh, opts, len(tracks))  # [1, N, 1, h, w]
        windows = [
            audio_windows(t, self.whisper, self.feature_extractor, fps=opts.fps) for t in tracks
        ]  # each [1, F, 10, K, C]
        F = windows[0].shape[1]
        if F < 1:
            raise InvalidOptionError("the audio is shorter than one video frame (40 ms)")
        padded = [pad_audio_frames(a, self.window) for a in windows]
        timeline = avatar_timeline(padded[0].shape[1], self.window)
        extra = timeline.audio_frames - padded[0].shape[1]
        padded = [torch.cat([a, a.new_zeros(1, extra, *a.shape[2:])], dim=1) for a in padded]
        # one voice: [1, L, 10, K, C] as the release; several: [1, N, L, 10, K, C]
        padded = (padded[0] if len(padded) == 1 else torch.stack(padded, dim=1)).to(self.device)
        samples = tracks[0] if len(tracks) == 1 else mix_tracks(tracks)
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
        if emotion_image is not None:
            emotion = self.emotion_latents(emotion_image, photo.shape[:2])  # [1, C, 1, h, w]
            branches["cond"] = branches["no_audio"] = dataclasses.replace(
                cond, extra={**cond.extra, "emotion_latents": emotion.to(self.dtype)}
            )
        predict = self._window_predict(branches, common, padded, mask, timeline, opts)
        schedule = avatar_windows(timeline, circular=opts.wrap)
        H, W = photo.shape[:2]
        s = self.vae.config.spatial_compression_ratio
        g = torch.Generator("cpu").manual_seed(int(opts.seed))
        shape = (1, self.dit.config.out_channels, timeline.latent_frames, H // s, W // s)
        latents = torch.randn(shape, generator=g, dtype=torch.float32).to(self.device)
        sigmas = shifted_sigmas(opts.steps, opts.flow_shift)
        policy = avatar_guidance(opts.cfg_scale)
        predict = windowed_predict(predict, schedule)
        if self.cfg_parallel is not None:  # outside the windows: each half runs one branch over all of them
            predict = self.cfg_parallel.wrap(predict, policy)
        latents = denoise(latents, sigmas, predict, policy, progress=progress, should_stop=should_stop)
        seconds = round(time.perf_counter() - start, 3)
        meta = {
            "task": "avatar",
            "options": opts.settings(),
            "prompt_used": prompt,
            "negative_prompt_used": self.negative_prompt(opts),
            "face_box_resized": [round(float(v), 2) for v in boxes[0]],
            "size": [W, H],
            "audio_seconds": round(len(samples) / 16000, 4),
            "timeline": dataclasses.asdict(timeline),
            "windows_per_step": count_windows(schedule, timeline.latent_frames, opts.steps)[:1],
            "reference_latents": f"VAE posterior mean of the photo repeated to {4 * self.window - 3} frames",
            "model": self.identity,
            "seconds_denoise": seconds,
        }
        if len(tracks) > 1:
            meta["speakers"] = _speakers_meta(opts, tracks, boxes)
            meta["audio_muxed_mix"] = f"sum of the {len(tracks)} tracks, scaled down only if it would clip"
        if emotion_image is not None:
            meta["emotion"] = {
                "reference": f"bundled {opts.emotion}" if opts.emotion else "emotion_image",
                "latents": f"VAE posterior mean of the reference resized to {W}x{H} (cond and no_audio)",
            }
        return AvatarResult(latents[:, :, : timeline.kept_frames], F, samples, float(opts.fps), meta)

    def _window_predict(self, branches, common, audio, mask, timeline, opts):
        """The per-window Predict: audio slice of the window (zeros for the uncond branches), face mask x the
        step's scale, and DeepCache (or every step full)."""
        from vitascope.flow.avatar import avatar_mask_scale, window_audio_indices
        from vitascope.models.audio.deepcache import AvatarDeepCache

        cache = AvatarDeepCache(self.dit, timeline.latent_frames, enabled=opts.deepcache)
        td = audio.ndim - 4  # the frame axis: 1 for one voice [1, L, 10, K, C], 2 for [1, N, L, 10, K, C]
        shape = list(audio.shape)
        shape[td] = 4 * self.window - 3
        zeros = audio.new_zeros(shape)
        face = mask.to(self.device)

        def predict(x_win, t, branch, step):
            idx = window_audio_indices(step.window, timeline).to(self.device)
            T = x_win.shape[2]
            if branch == "cond":
                window_audio = audio.index_select(td, idx[: 4 * T - 3])
            else:
                window_audio = zeros.narrow(td, 0, 4 * T - 3)
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
        """Yield uint8 frame chunks [f, H, W, 3], `frames` in all: `vae.iter_decode` with the release's tiling
        (16-frame temporal tiles, stride 12, cross-faded; spatial tiles above 256 px) one tile at a time when the
        whole decode would not fit the memory budget or `vae_decode` is "windows", else in one piece (windows
        restart a small VAE's context and mark every 12th frame: pipelines/decode_plan.py); streamed when
        `vae_decode` is "stream"."""
        from vitascope.pipelines.decode_plan import decode_method, iter_decoded

        vae = self.vae
        z = latents.to(next(vae.parameters()).dtype) / vae.config.scaling_factor  # [1, C, T, h, w]
        rs = vae.config.spatial_compression_ratio
        cfg = self.tiling(z.shape[3] * rs, z.shape[4] * rs)
        method = decode_method(self.vae_decode, vae.config, tuple(z.shape), z.dtype, z.device)
        cfg = dataclasses.replace(cfg, spatial=cfg.spatial and method == "windows")
        left = frames
        for x in iter_decoded(vae, z, method, cfg):  # [1, 3, f, H, W] in about [-1, 1]
            video = (x.float() / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 3, 0)  # [f, H, W, 3]
            video = (video * 255).round().to(torch.uint8).cpu().numpy()[:left]
            left -= len(video)
            if len(video):
                yield video
            if left <= 0:
                break


def _find_boxes(photo: np.ndarray, original_wh, opts: AvatarOptions, speakers: int, detector=None) -> list:
    """One box per voice in the resized photo: the user's (input photo pixels, checked there, in order), or the
    largest detected face for one voice, the detected faces left to right for several."""
    from vitascope.models.audio.face import check_box, find_face
    from vitascope.models.audio.speakers import find_faces
    from vitascope.pipelines.avatar_inputs import box_list

    H, W = photo.shape[:2]
    given = box_list(opts.face_box)
    if given is not None:
        ow, oh = original_wh
        sx, sy = W / ow, H / oh
        given = [check_box(b, oh, ow) for b in given]
        given = [(x * sx, y * sy, w * sx, h * sy) for x, y, w, h in given]
    if speakers == 1:
        return [find_face(photo, face_box=given[0] if given else None, detector=detector)]
    return find_faces(photo, speakers, face_boxes=given, detector=detector)


def _speakers_meta(opts: AvatarOptions, tracks: np.ndarray, boxes) -> list[dict]:
    from vitascope.pipelines.avatar_inputs import describe, voice_list

    return [
        {
            "audio": describe(v),
            "face_box_resized": [round(float(c), 2) for c in box],
            "audio_seconds": round(float(np.flatnonzero(t).max(initial=-1) + 1) / 16000, 4),
        }
        for v, t, box in zip(voice_list(opts.audio), tracks, boxes, strict=True)
    ]
