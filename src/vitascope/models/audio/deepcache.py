"""DeepCache as HunyuanVideo-Avatar runs it, over shifted windows.

At full steps (`flow.avatar.deepcache_full_step`: 30 of 50) the DiT runs whole and the input of its last single
block is kept per latent frame of the timeline: the reference tokens, the frame's video tokens and the text
tokens (the release keeps reference and text per frame too, and restores them from the window's first frame).
At the other steps the embeddings run, the kept input is reassembled for the window's frames, and only the last
single block and the head run. One store per guidance branch, since each branch sees different inputs.
Memory: per branch, (reference + frame + text tokens) x latent frames x width, in the DiT's dtype.
"""

from __future__ import annotations

import torch

from vitascope.flow.avatar import deepcache_full_step
from vitascope.flow.sampler import StepInfo
from vitascope.models.audio.avatar_dit import AvatarDiT


class AvatarDeepCache:
    """A per-window predict: cache(x_win, t, inputs, step, branch) -> velocity of the window, where
    `step.window` holds the window's latent frame indices (as `flow.windows.windowed_predict` sets it)."""

    def __init__(self, dit: AvatarDiT, frames: int, enabled: bool = True, full_step=deepcache_full_step):
        """frames: latent frames of the whole timeline (`flow.avatar.Timeline.latent_frames`)."""
        self.dit, self.frames, self.enabled, self.full_step = dit, frames, enabled, full_step
        self.store: dict[str, dict[str, torch.Tensor]] = {}
        self.full_calls = self.cached_calls = 0

    def __call__(self, x_win, t, inputs, step: StepInfo, branch: str) -> torch.Tensor:
        if step.window is None:
            raise ValueError(
                "AvatarDeepCache runs inside flow.windows.windowed_predict (step.window is unset)"
            )
        window = torch.tensor(step.window, device=x_win.device)
        st = self.store.get(branch)
        if not self.enabled or self.full_step(step.index) or st is None:
            return self._full(x_win, t, inputs, window, branch)
        idx = window.to(st["img"].device)
        B, T, HW, D = st["img"].shape[0], idx.numel(), st["img"].shape[2], st["img"].shape[3]
        last_in = torch.cat(
            [st["ref"][:, idx[0]], st["img"][:, idx].reshape(B, T * HW, D), st["txt"][:, idx[0]]], dim=1
        )  # [B, P + T*HW + S, D]
        self.cached_calls += 1
        return self.dit.run_cached(x_win, t, inputs, last_in)

    def _full(self, x_win, t, inputs, window: torch.Tensor, branch: str) -> torch.Tensor:
        seen = {}

        def grab(module, args):
            h, ctx = args[0], args[1]  # a single block is called as block(h, ctx)
            shard = ctx.extras.get("shard")
            if shard is not None and self.enabled:  # sequence parallel: keep the whole input, not the slice
                h = torch.cat([shard.gather(h[:, : ctx.n_img]), h[:, ctx.n_img :]], dim=1)
            seen["h"] = h

        handle = self.dit.single_blocks[-1].register_forward_pre_hook(grab)
        try:
            out = self.dit.run(x_win, t, inputs)
        finally:
            handle.remove()
        self.full_calls += 1
        if self.enabled:
            self._keep(branch, window, seen["h"], x_win)
        return out

    def _keep(self, branch: str, window: torch.Tensor, h: torch.Tensor, x_win: torch.Tensor) -> None:
        pt, ph, pw = self.dit.config.patch_size
        T, HW = x_win.shape[2] // pt, (x_win.shape[3] // ph) * (x_win.shape[4] // pw)
        B, _, D = h.shape
        P, S = HW, h.shape[1] - HW - T * HW  # one prepended reference frame
        st = self.store.get(branch)
        if st is None:  # one store per branch, allocated at its first full step
            st = self.store[branch] = {
                "ref": h.new_zeros(B, self.frames, P, D),
                "img": h.new_zeros(B, self.frames, HW, D),
                "txt": h.new_zeros(B, self.frames, S, D),
            }
        idx = window.to(h.device)
        st["ref"][:, idx] = h[:, None, :P].expand(-1, T, -1, -1)
        st["img"][:, idx] = h[:, P : P + T * HW].reshape(B, T, HW, D)
        st["txt"][:, idx] = h[:, None, P + T * HW :].expand(-1, T, -1, -1)
