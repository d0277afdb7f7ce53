"""Sampling a HunyuanVideo DiT with the one sampler (`flow.sampler.denoise`): text branches, I2V input
builders, embedded guidance and constant true CFG. Used by the pipelines, training previews and evaluation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch

from vitascope.flow import embedded_guidance, shifted_sigmas
from vitascope.flow.sampler import GuidancePolicy, Predict, StepInfo, constant_guidance, denoise
from vitascope.models.dit.context import DiTInputs, trim_text_padding


@dataclass
class TextCondition:
    states: torch.Tensor  # [B, S, D_txt]
    mask: torch.Tensor  # [B, S]
    pooled: torch.Tensor  # [B, D_txt2]

    def to_inputs(self, **kwargs) -> DiTInputs:
        """DiT inputs with the text padding trimmed once (the only host sync of a generation's text)."""
        states, mask, padded = trim_text_padding(self.states, self.mask)
        return DiTInputs(states, mask, self.pooled, text_padded=padded, **kwargs)


def dit_predict(
    dit,
    branches: dict[str, DiTInputs],
    *,
    dtype: torch.dtype,
    image_latents: torch.Tensor | None = None,
    mode: str | None = None,
    frame_inputs: dict[str, torch.Tensor] | None = None,
) -> Predict:
    """A Predict over our DiT. I2V is an input builder here:

    - "token_replace": latent frame 0 is the clean image (the caller pins it in the state); its velocity is 0,
      so Euler never moves it;
    - "latent_concat": [noisy, image, mask] channels into a 33-channel DiT.

    frame_inputs: a variant's per-latent-frame inputs over the whole timeline ([B, C, T, h, w], e.g. the pose
    DiT's "pose_latents"), put in `DiTInputs.extra` at each call; inside context windows (`step.window`, the
    frames of the timeline this call sees) only the window's frames go in.
    """
    mask_ch = None
    if mode == "latent_concat":
        mask_ch = torch.zeros_like(image_latents[:, :1])  # [B, 1, T, H, W]: 1 at the conditioned frame
        mask_ch[:, :, 0] = 1

    def predict(x: torch.Tensor, t: torch.Tensor, branch: str, step: StepInfo) -> torch.Tensor:
        if mode == "latent_concat":
            x = torch.cat([x, image_latents, mask_ch], dim=1)
        elif mode == "token_replace":
            x = torch.cat([image_latents[:, :, :1], x[:, :, 1:]], dim=2)
        inputs = branches[branch]
        if frame_inputs:
            extra = {k: _frames_of(v, step.window, x.shape[2]) for k, v in frame_inputs.items()}
            inputs = dataclasses.replace(inputs, extra={**inputs.extra, **extra})
        v = dit.run(x.to(dtype), t, inputs)
        if mode == "token_replace":  # frame 0 is the clean image: never stepped
            v = torch.cat([torch.zeros_like(v[:, :, :1]), v[:, :, 1:]], dim=2)
        return v

    return predict


def _frames_of(value: torch.Tensor, window: tuple[int, ...] | None, T: int) -> torch.Tensor:
    """The latent frames [B, C, T, h, w] of `value` that a call on `window` (None: all) sees."""
    if window is not None:
        value = value.index_select(2, torch.tensor(window, device=value.device))
    if value.shape[2] != T:
        raise ValueError(f"a per-frame input has {value.shape[2]} latent frames for {T} in the call")
    return value


def sample_dit(
    dit,
    latents: torch.Tensor,
    cond: TextCondition,
    uncond: TextCondition | None,
    *,
    steps: int,
    shift: float,
    guidance: float,
    cfg_scale: float,
    dtype: torch.dtype,
    image_latents: torch.Tensor | None = None,
    mode: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    wrap_predict: Callable[[Predict], Predict] | None = None,
    wrap_guided: Callable[[Predict, GuidancePolicy], Predict] | None = None,
    frame_inputs: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The T2V/I2V sampler of a HunyuanVideo DiT: text branches, embedded guidance, constant true CFG.

    wrap_predict: applied to the Predict before the loop (a step cache, a call counter).
    wrap_guided: applied last, with the guidance policy (CFG in parallel: `parallel.cfg.CFGParallel.wrap`).
    frame_inputs: a variant's per-latent-frame inputs (`dit_predict`), e.g. {"pose_latents": [1, C, T, h, w]}."""
    B = latents.shape[0]
    g = (
        embedded_guidance(guidance, B, dtype=dtype, device=latents.device)
        if dit.config.guidance_embed
        else None
    )
    kw = {"guidance": g, "token_replace": mode == "token_replace"}
    branches = {"cond": cond.to_inputs(**kw)}
    if uncond is not None and cfg_scale > 1.0:
        branches["negative"] = uncond.to_inputs(**kw)
    predict = dit_predict(
        dit, branches, dtype=dtype, image_latents=image_latents, mode=mode, frame_inputs=frame_inputs
    )
    if wrap_predict is not None:
        predict = wrap_predict(predict)
    if mode == "token_replace":  # pin the clean frame in the state
        latents = torch.cat([image_latents[:, :, :1].float(), latents[:, :, 1:]], dim=2)
    policy = constant_guidance(cfg_scale if "negative" in branches else 1.0)
    if wrap_guided is not None:
        predict = wrap_guided(predict, policy)
    sigmas = shifted_sigmas(steps, shift)
    return denoise(latents, sigmas, predict, policy, progress=progress, should_stop=should_stop)
