"""HunyuanVideo's MM-DiT (`HYVideoDiffusionTransformer`), with the checkpoint's module names, as stages.

    forward(x, t, text...) -> run(x, t, DiTInputs) = head(run_blocks(embed(x, t, inputs)))

`embed` builds one `Context` (conditioning vectors, tokens, RoPE tables, masks); `run_blocks` runs the double
then the single blocks; `head` drops prepended tokens, applies the final layer and unpatchifies. A variant (the
avatar, pose or emotion DiT, a cache) subclasses or adds plugins at five hooks and never copies `forward`:

    embed_vec(ctx)        add terms to ctx.vec                  (avatar: motion, fps)
    embed_tokens(ctx)     per-token additions, prepended tokens (avatar: ref_in, reference frame at t=-1)
    after_double(i, ctx)  between double blocks                 (avatar: audio adapters)
    after_single(i, ctx)  between single blocks
    before_head(ctx)      last look at the tokens

Token order everywhere: [prefix tokens] image tokens (T, H, W row-major over the post-patch grid), then text.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from vitascope.models.dit.blocks import FinalLayer, MMDoubleStreamBlock, MMSingleStreamBlock
from vitascope.models.dit.config import DiTConfig
from vitascope.models.dit.context import Context, DiTInputs, trim_text_padding
from vitascope.models.dit.refiner import SingleTokenRefiner
from vitascope.nn.attention import Backend, get_backend
from vitascope.nn.embeddings import MLPEmbedder, PatchEmbed, TimestepEmbedder
from vitascope.nn.rope import riflex_frequency, rope_cos_sin

HOOKS = ("embed_vec", "embed_tokens", "after_double", "after_single", "before_head")


class HunyuanVideoDiT(nn.Module):
    def __init__(self, config: DiTConfig):
        super().__init__()
        self.config = c = config
        D = c.hidden_size
        self.img_in = PatchEmbed(c.patch_size, c.in_channels, D)
        self.txt_in = SingleTokenRefiner(c.text_states_dim, D, c.heads_num, c.refiner_depth, 4.0, c.qkv_bias)
        self.time_in = TimestepEmbedder(D)
        self.vector_in = MLPEmbedder(c.text_states_dim_2, D)
        self.guidance_in = TimestepEmbedder(D) if c.guidance_embed else None
        self.double_blocks = nn.ModuleList(
            MMDoubleStreamBlock(D, c.heads_num, c.mlp_hidden, c.qkv_bias)
            for _ in range(c.mm_double_blocks_depth)
        )
        self.single_blocks = nn.ModuleList(
            MMSingleStreamBlock(D, c.heads_num, c.mlp_hidden) for _ in range(c.mm_single_blocks_depth)
        )
        self.final_layer = FinalLayer(D, c.patch_size, c.out_channels)
        self.attn_backend: str | Backend = "sdpa"
        self.gradient_checkpointing = False
        self._plugins: list = []
        self._rope_cache: dict = {}
        self._time_freq: tuple[int, float] | None = None

    # ---- set from outside ----------------------------------------------------------------------------------
    def set_attention(self, backend: str | Backend) -> None:
        """Choose the attention backend by name (see `nn.attention`) or as a callable (a wrapper)."""
        get_backend(backend)  # fail now, not in the middle of a run
        self.attn_backend = backend

    def set_riflex(self, native_frames: int | None, target_frames: int = 0) -> None:
        """RIFLEx for one long clip past the trained length (latent frames); None turns it off."""
        c = self.config
        self._time_freq = (
            None
            if native_frames is None
            else riflex_frequency(c.rope_dim_list[0], c.rope_theta, native_frames, target_frames)
        )
        self._rope_cache.clear()

    def add_plugin(self, plugin) -> None:
        """A plugin is any object with some of the hook methods (`HOOKS`); they run after the subclass's."""
        if not any(hasattr(plugin, h) for h in HOOKS):
            raise TypeError(f"a DiT plugin needs at least one of {HOOKS}")
        self._plugins.append(plugin)

    def remove_plugin(self, plugin) -> None:
        self._plugins.remove(plugin)

    # ---- stages ---------------------------------------------------------------------------------------------
    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        text_states: torch.Tensor,
        text_mask: torch.Tensor | None,
        text_states_2: torch.Tensor,
        guidance: torch.Tensor | None = None,
        token_replace: bool | None = None,
        frame_offset: int = 0,
        **extra,
    ) -> torch.Tensor:
        """Predict the flow velocity.

        x: [B, C_in, T, H, W] latents; t: [B] timesteps in 0..1000 (sigma * 1000); text_states: [B, S, D_txt];
        text_mask: [B, S] (1 = real token); text_states_2: [B, D_txt2] CLIP pooled; guidance: [B] embedded
        guidance already multiplied by 1000. token_replace: modulate frame-0 tokens with the t=0 vector
        (defaults to the config's image_condition_type). `extra`: a variant's inputs. Returns
        [B, C_out, T, H, W]. This convenience entry trims text padding (one host sync); samplers prepare
        `DiTInputs` once and call `run`.
        """
        states, mask, padded = trim_text_padding(text_states, text_mask)
        inputs = DiTInputs(states, mask, text_states_2, guidance, token_replace, frame_offset, padded, extra)
        return self.run(x, t, inputs)

    def run(self, x: torch.Tensor, t: torch.Tensor, inputs: DiTInputs) -> torch.Tensor:
        ctx = self.embed(x, t, inputs)
        self.run_blocks(ctx)
        return self.head(ctx)

    def embed(self, x: torch.Tensor, t: torch.Tensor, inputs: DiTInputs) -> Context:
        c = self.config
        B, _, T, H, W = x.shape
        pt, ph, pw = c.patch_size
        if T % pt or H % ph or W % pw:
            raise ValueError(f"latent grid {(T, H, W)} must be divisible by the patch size {c.patch_size}")
        grid = (T // pt, H // ph, W // pw)
        t = t.to(x.device).expand(B) if t.ndim == 0 else t
        token_replace = inputs.token_replace
        if token_replace is None:
            token_replace = c.image_condition_type == "token_replace"

        # 1. Conditioning vectors (the token-replace vector is t=0 without guidance, by design).
        pooled = self.vector_in(inputs.text_states_2)
        vec = self.time_in(t) + pooled  # [B, D]
        tr_vec = self.time_in(torch.zeros_like(t)) + pooled if token_replace else None
        if self.guidance_in is not None:
            if inputs.guidance is None:
                raise ValueError(
                    "this model embeds guidance: pass guidance (scale * 1000), e.g. 6000 for 6.0"
                )
            vec = vec + self.guidance_in(inputs.guidance.to(x.device).expand(B))

        # 2. Tokens. Image tokens never see text padding (the official varlen attention gives padding its own
        # segment); the mask is built without looking at its values, so nothing here syncs with the host.
        img = self.img_in(x)  # [B, L, D]
        txt = self.txt_in(inputs.text_states, t, inputs.text_mask, self.attn_backend)  # [B, S, D]
        rope = self.rope_for(grid, (inputs.frame_offset, 0, 0), x.device)
        ctx = Context(
            inputs=inputs,
            grid=grid,
            t=t,
            vec=vec,
            tr_vec=tr_vec,
            first=grid[1] * grid[2] if token_replace else 0,  # tokens of the first latent frame
            img=img,
            txt=txt,
            rope=rope,
            attn=get_backend(self.attn_backend),
        )
        self._hook("embed_vec", ctx)
        self._hook("embed_tokens", ctx)
        if inputs.text_mask is not None and inputs.text_padded is not False:
            L = ctx.img.shape[1]
            ctx.key_mask = torch.cat(
                [torch.ones(B, L, dtype=torch.bool, device=x.device), inputs.text_mask.bool()], dim=1
            )
        return ctx

    def run_blocks(self, ctx: Context) -> Context:
        for i, block in enumerate(self.double_blocks):
            ctx.img, ctx.txt = self._run(block, ctx.img, ctx.txt, ctx)
            self._hook("after_double", i, ctx)
        ctx.n_img = ctx.img.shape[1]
        h = torch.cat([ctx.img, ctx.txt], dim=1)  # [B, L+S, D]
        hooked = self._has("after_single")
        for i, block in enumerate(self.single_blocks):
            h = self._run(block, h, ctx)
            if hooked:
                ctx.img, ctx.txt = h[:, : ctx.n_img], h[:, ctx.n_img :]
                self._hook("after_single", i, ctx)
                h = torch.cat([ctx.img, ctx.txt], dim=1)
        ctx.img, ctx.txt = h[:, : ctx.n_img], h[:, ctx.n_img :]
        return ctx

    def head(self, ctx: Context) -> torch.Tensor:
        """Final layer on the image tokens only (prefix dropped), then unpatchify with channels slowest."""
        self._hook("before_head", ctx)
        c = self.config
        pt, ph, pw = c.patch_size
        out = self.final_layer(ctx.img[:, ctx.n_prefix :], ctx.vec)  # [B, L, C*pt*ph*pw]
        T, H, W = ctx.grid
        return rearrange(
            out, "B (T H W) (C pt ph pw) -> B C (T pt) (H ph) (W pw)", T=T, H=H, W=W, pt=pt, ph=ph, pw=pw
        )

    # ---- helpers ----------------------------------------------------------------------------------------------
    def rope_for(self, grid, offsets, device) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin tables [L, K] for a post-patch grid, cached per (grid, offsets, device)."""
        key = (tuple(grid), tuple(offsets), torch.device(device))
        if key not in self._rope_cache:
            if len(self._rope_cache) > 16:  # a long-video run visits few grids; keep the cache bounded
                self._rope_cache.clear()
            c = self.config
            self._rope_cache[key] = rope_cos_sin(
                grid, c.rope_dim_list, c.rope_theta, offsets, device=device, time_freq=self._time_freq
            )
        return self._rope_cache[key]

    # Hooks a subclass overrides (no-ops here); plugins' methods of the same names run after them.
    def embed_vec(self, ctx: Context) -> None: ...
    def embed_tokens(self, ctx: Context) -> None: ...
    def after_double(self, i: int, ctx: Context) -> None: ...
    def after_single(self, i: int, ctx: Context) -> None: ...
    def before_head(self, ctx: Context) -> None: ...

    def _has(self, name: str) -> bool:
        overridden = getattr(type(self), name) is not getattr(HunyuanVideoDiT, name)
        return overridden or any(hasattr(p, name) for p in self._plugins)

    def _hook(self, name: str, *args) -> None:
        getattr(self, name)(*args)
        for p in self._plugins:
            fn = getattr(p, name, None)
            if fn is not None:
                fn(*args)

    def _run(self, block, *args):
        if self.gradient_checkpointing and torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint

            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)


__all__ = ["Context", "DiTInputs", "HunyuanVideoDiT", "trim_text_padding"]
