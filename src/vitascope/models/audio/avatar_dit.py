"""The HunyuanVideo-Avatar DiT: the HunyuanVideo MM-DiT plus the release's audio, reference and motion modules.

Module names are the release's (`hymm_sp/modules/models_audio.py`), so its checkpoint loads with an identity
key map: `ref_in`, `before_proj`, `audio_proj.{proj1,proj2,proj3,norm}`, `motion_exp`, `motion_pose`,
`fps_proj`, `audio_adapter_blocks.{0..9}`; no `guidance_in`. Everything runs through the base class's hooks:

    embed_vec      vec += motion_exp(4 exps) + motion_pose(4 poses) + fps_proj(fps); audio_proj(audio)
    embed_tokens   img += before_proj(ref_in(ref_latents)); img_in(ref_latents[:, :, :1]) prepended at
                   RoPE time -1 (same h, w grid); the face mask resized (nearest) to the token grid
    after_double   after double blocks 1, 3, ..., 19: img += adapter(audio, img) * face (frame-local);
                   with N speakers img += sum_n adapter(audio_n, img) * face_n (one adapter, masks per speaker);
                   with the emotion module, after every double block: img += emotion_blocks.i(img, emotion)
    (the head drops the prepended reference tokens)

Inputs in `DiTInputs.extra` (or as keyword arguments of `forward`):
    ref_latents  [B, 16, T, H, W]   the VAE latents of the reference image repeated over the clip
    audio        [B, 4T-3, 10, 5, C] Whisper windows per video frame (`whisper.audio_windows`); zeros = uncond
                 or [B, N, 4T-3, 10, 5, C] for N speakers (each through audio_proj on its own)
    face_mask    [B, 1, 1 or T, H, W] at the latent grid (`face.latent_face_mask`), x0.6 in the first steps
                 or [B, N, 1 or T, H, W] with N speakers: one mask per speaker, in the audio's order
    motion_exp, motion_pose [B, 4] (release: 30 and 25 each); fps [B] (25)
    emotion_latents  optional [B, 16, 1, H, W]: VAE latents of the emotion reference image (only for a model
                 built with emotion=True; `models.audio.emotion`); absent -> the emotion module is skipped
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from vitascope.models.audio.emotion import EmotionAttention
from vitascope.models.dit.config import DiTConfig
from vitascope.models.dit.context import Context
from vitascope.models.dit.model import HunyuanVideoDiT
from vitascope.nn.embeddings import PatchEmbed, TimestepEmbedder

ADAPTER_AFTER = tuple(range(1, 20, 2))  # double blocks followed by an audio adapter (0-based)
AUDIO_TOKENS = 4  # tokens per audio frame out of audio_proj
AUDIO_WINDOW, AUDIO_LAYERS, AUDIO_CHANNELS = 10, 5, 384  # whisper-tiny: 10 frames x 5 states x 384


class AudioProjNet2(nn.Module):
    """[B, F, 10, 5, C] -> flatten -> proj1 -> ReLU -> proj2 -> ReLU -> proj3 -> [B, F, 4, D] -> LayerNorm."""

    def __init__(self, in_dim: int, hidden: int = 1024, out_dim: int = 3072, tokens: int = AUDIO_TOKENS):
        super().__init__()
        self.tokens, self.out_dim = tokens, out_dim
        self.proj1 = nn.Linear(in_dim, hidden)
        self.proj2 = nn.Linear(hidden, hidden)
        self.proj3 = nn.Linear(hidden, tokens * out_dim)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        B, Fr = audio.shape[:2]
        h = torch.relu(self.proj1(audio.reshape(B * Fr, -1)))
        h = self.proj3(torch.relu(self.proj2(h))).view(B, Fr, self.tokens, self.out_dim)
        return self.norm(h)


class AudioAdapter(nn.Module):
    """The release's `PerceiverAttentionCA`: one 1024-wide head, video tokens query their frame's audio tokens.

    norm1 normalises the audio tokens (keys/values), norm2 the video tokens (queries); q and k are each scaled
    by d^-1/4 and the softmax runs in fp32. `heads` in the release is unused. to_out starts at zero.
    """

    def __init__(self, dim: int = 3072, dim_head: int = 1024):
        super().__init__()
        self.dim_head = dim_head
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim_head, bias=False)
        self.to_kv = nn.Linear(dim, 2 * dim_head, bias=False)
        self.to_out = nn.Linear(dim_head, dim, bias=False)
        nn.init.zeros_(self.to_out.weight)

    def forward(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """audio [B, T, A, D], video [B, T, N, D] -> [B, T, N, D]."""
        q = self.to_q(self.norm2(video))  # [B, T, N, d]
        k, v = self.to_kv(self.norm1(audio)).chunk(2, dim=-1)  # [B, T, A, d] each
        s = 1.0 / math.sqrt(math.sqrt(self.dim_head))
        w = (q * s) @ (k * s).transpose(-2, -1)  # [B, T, N, A]
        w = torch.softmax(w.float(), dim=-1).to(w.dtype)
        return self.to_out(w @ v)


def avatar_config(**overrides) -> DiTConfig:
    """The release's `HYVideo-T/2` backbone: 20 double + 40 single blocks, 3072 wide, no guidance embedding."""
    return dataclasses.replace(DiTConfig(guidance_embed=False), **overrides)


class AvatarDiT(HunyuanVideoDiT):
    def __init__(
        self,
        config: DiTConfig,
        audio_channels: int = AUDIO_CHANNELS,
        audio_layers: int = AUDIO_LAYERS,
        adapter_dim_head: int = 1024,
        audio_hidden: int = 1024,
        emotion: bool = False,
    ):
        if config.guidance_embed or config.image_condition_type is not None:
            raise ValueError("the Avatar DiT has no guidance embedding and no I2V condition type")
        super().__init__(config)
        D = config.hidden_size
        self.ref_in = PatchEmbed(config.patch_size, config.in_channels, D)
        self.before_proj = nn.Linear(D, D)
        self.audio_proj = AudioProjNet2(AUDIO_WINDOW * audio_layers * audio_channels, audio_hidden, D)
        self.motion_exp = TimestepEmbedder(D // 4)
        self.motion_pose = TimestepEmbedder(D // 4)
        self.fps_proj = TimestepEmbedder(D)
        # ten adapters whatever the depth, as the release builds them (those past the last block never run)
        self.audio_adapter_blocks = nn.ModuleList(AudioAdapter(D, adapter_dim_head) for _ in ADAPTER_AFTER)
        # the paper's Audio Emotion Module (not in the release): off unless asked, so release keys load strictly
        self.emotion_in = self.emotion_blocks = None
        if emotion:
            self.emotion_in = PatchEmbed(config.patch_size, config.in_channels, D)
            self.emotion_blocks = nn.ModuleList(
                EmotionAttention(D, config.heads_num) for _ in range(config.mm_double_blocks_depth)
            )

    @property
    def has_emotion(self) -> bool:
        return self.emotion_in is not None

    # ---- hooks ----------------------------------------------------------------------------------------------
    def embed_vec(self, ctx: Context) -> None:
        ex, B = ctx.inputs.extra, ctx.vec.shape[0]
        dev = ctx.vec.device
        ctx.vec = (
            ctx.vec
            + self.motion_exp(ex["motion_exp"].to(dev).reshape(-1)).view(B, -1)
            + self.motion_pose(ex["motion_pose"].to(dev).reshape(-1)).view(B, -1)
            + self.fps_proj(ex["fps"].to(dev).reshape(B))
        )
        T = ctx.grid[0]
        raw = ex["audio"].to(dev, ctx.vec.dtype)
        speakers = raw.ndim == 6  # [B, N, F, 10, K, C]
        if speakers:
            raw = raw.flatten(0, 1)  # [B*N, F, 10, K, C]
        audio = self.audio_proj(raw)  # [B(*N), F, 4, D]
        if audio.shape[1] != 4 * T - 3:
            raise ValueError(f"{T} latent frames need {4 * T - 3} audio frames, got {audio.shape[1]}")
        # frame 0 repeated 3 times in front: latent frame k attends to audio frames 4k-3..4k (16 tokens)
        audio = torch.cat([audio[:, :1].expand(-1, 3, -1, -1), audio], dim=1)
        audio = audio.reshape(audio.shape[0], T, 4 * AUDIO_TOKENS, -1)  # [B(*N), T, 16, D]
        ctx.extras["audio"] = audio.unflatten(0, (B, -1)) if speakers else audio  # [B, N, T, 16, D] or 4-D

    def embed_tokens(self, ctx: Context) -> None:
        ex = ctx.inputs.extra
        ref = ex["ref_latents"].to(ctx.img.device, self.img_in.proj.weight.dtype)  # [B, C, T, H, W]
        ctx.img = ctx.img + self.before_proj(self.ref_in(ref))
        T, H, W = ctx.grid
        first = self.img_in(ref[:, :, :1])  # [B, H*W, D]: the shared img_in, not ref_in
        ctx.prepend(first, self.rope_for((1, H, W), (-1, 0, 0), ctx.img.device))
        face = ex["face_mask"].to(ctx.img.device, torch.float32)  # [B, 1, 1 or T, h, w]
        if face.shape[2] == 1:
            face = face.expand(-1, -1, T * self.config.patch_size[0], -1, -1)
        face = F.interpolate(face, size=(T, H, W), mode="nearest")  # [B, 1 or N, T, H, W]
        audio = ctx.extras["audio"]
        speakers = audio.shape[1] if audio.ndim == 5 else 1
        if face.shape[1] != speakers:
            raise ValueError(
                f"{speakers} speaker(s) need as many face masks, got face_mask {tuple(face.shape)}"
            )
        ctx.extras["face"] = face.flatten(2).transpose(1, 2).to(ctx.img.dtype)  # [B, L, 1 or N]
        emotion = ex.get("emotion_latents")
        if emotion is not None:
            if self.emotion_in is None:
                raise ValueError("emotion_latents given, but this Avatar DiT has no emotion module")
            emotion = emotion.to(ctx.img.device, self.emotion_in.proj.weight.dtype)  # [B, C, 1, h, w]
            ctx.extras["emotion"] = self.emotion_in(emotion)  # [B, M, D]

    def after_double(self, i: int, ctx: Context) -> None:
        if i in ADAPTER_AFTER:
            adapter = self.audio_adapter_blocks[ADAPTER_AFTER.index(i)]
            P, (T, H, W) = ctx.n_prefix, ctx.grid
            B, _, D = ctx.img.shape
            video = ctx.img[:, P:].reshape(B, T, H * W, D)
            audio, face = ctx.extras["audio"], ctx.extras["face"]  # [B, (N,) T, 16, D], [B, L, 1 or N]
            if audio.ndim == 4:  # one speaker: the release's computation
                out = adapter(audio, video).reshape(B, T * H * W, D) * face
            else:  # N speakers: one adapter, each speaker's output only inside its own face
                out = sum(
                    adapter(audio[:, n], video).reshape(B, T * H * W, D) * face[:, :, n : n + 1]
                    for n in range(audio.shape[1])
                )
            ctx.img = torch.cat([ctx.img[:, :P], ctx.img[:, P:] + out], dim=1)
        emotion = ctx.extras.get("emotion")
        if emotion is not None:
            P = ctx.n_prefix
            out = self.emotion_blocks[i](ctx.img[:, P:], emotion.to(ctx.img.dtype))  # [B, L, D]
            ctx.img = torch.cat([ctx.img[:, :P], ctx.img[:, P:] + out], dim=1)

    def embed(self, x, t, inputs):
        """As the base, then the release's count-based text key mask when `extra["attn_text_mask"]` [B, S] is
        given: the token refiner reads `text_mask` per position (the LLaVA mask quirk), while the release's
        main attention takes the first sum(mask) text tokens (its cu_seqlens), which this mask states."""
        ctx = super().embed(x, t, inputs)
        attn_mask = inputs.extra.get("attn_text_mask")
        if attn_mask is not None:
            B, L = ctx.img.shape[:2]
            ctx.key_mask = torch.cat(
                [
                    torch.ones(B, L, dtype=torch.bool, device=ctx.img.device),
                    attn_mask.to(ctx.img.device).bool(),
                ],
                dim=1,
            )
        return ctx

    def run_cached(self, x: torch.Tensor, t: torch.Tensor, inputs, last_in: torch.Tensor) -> torch.Tensor:
        """DeepCache step: embeddings as usual, then only the last single block, on `last_in` [B, P+L+S, D]
        (the input that block saw at an earlier full step), then the head. See `models.audio.deepcache`."""
        ctx = self.embed(x, t, inputs)
        if last_in.shape[1] != ctx.img.shape[1] + ctx.txt.shape[1]:
            raise ValueError(
                f"cached input has {last_in.shape[1]} tokens, this call {ctx.img.shape[1] + ctx.txt.shape[1]}"
            )
        ctx.n_img = ctx.img.shape[1]
        h = self._run(self.single_blocks[-1], last_in, ctx)
        ctx.img, ctx.txt = h[:, : ctx.n_img], h[:, ctx.n_img :]
        return self.head(ctx)

    def forward(self, x, t, text_states, text_mask, text_states_2, guidance=None, **extra):
        """As the base forward, with the Avatar inputs as keywords: ref_latents, audio, face_mask, motion_exp,
        motion_pose, fps, and optionally emotion_latents (see the module docstring)."""
        missing = {"ref_latents", "audio", "face_mask", "motion_exp", "motion_pose", "fps"} - set(extra)
        if missing:
            raise ValueError(f"the Avatar DiT needs {sorted(missing)}")
        return super().forward(x, t, text_states, text_mask, text_states_2, guidance, **extra)
