"""Sequence-parallel inference (Ulysses, or ring attention) for a built DiT, installed from outside.

    sp = SequenceParallel()          # over the default process group (torchrun, or spawned gloo processes)
    sp = SequenceParallel(kind="ring")   # K/V blocks passed around the ranks instead (parallel/ring.py)
    sp.install(dit)                  # a plugin (embed_tokens / before_head) + an attention-backend wrapper

Every rank holds the whole model and the same inputs. After the embeddings, each rank keeps one contiguous
slice of the image tokens (prefix tokens included; padded with masked tokens up to a multiple of the world
size) and the matching RoPE rows; text tokens stay replicated. Around each attention call the wrapper swaps
the sharding (all-to-all): before, every rank sends each peer that peer's heads of its own image slice and
receives the full image sequence for its heads (text: its own heads, no communication); after, the reverse,
and the text output heads are all-gathered. The image tokens are gathered again before the final layer, so
every rank returns the full velocity. Heads must divide by the world size.

With kind="ring" the token sharding is the same, but attention stays on the local tokens with all heads: the
image K/V blocks travel around the ranks and the partial results merge by log-sum-exp (`parallel.ring`).
Any head count works; the backend must have a log-sum-exp form (sdpa, math, flash).

The refiner's text-only attention passes through unchanged. Hooks that run between blocks (after_double,
after_single) see the local slice; `ctx.extras["shard"]` (this object) tells them which tokens they hold
(`token_range`), gathers a local tensor back to the full sequence (`gather`), slices a full one (`local`)
and sums statistics over the ranks (`all_sum`: the step caches' skip decisions).
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from vitascope.errors import InvalidOptionError
from vitascope.nn.attention import get_backend, get_lse_backend

log = logging.getLogger(__name__)


def _dist():
    import torch.distributed as dist

    if not dist.is_initialized():
        raise RuntimeError(
            "sequence parallel needs torch.distributed initialised (torchrun, or init_process_group)"
        )
    return dist


KINDS = ("ulysses", "ring")


class SequenceParallel:
    def __init__(self, group=None, kind: str = "ulysses"):
        if kind not in KINDS:
            raise InvalidOptionError(f"--sp must be one of {', '.join(KINDS)}, got {kind!r}")
        dist = _dist()
        self.group, self.kind = group, kind
        self.world = dist.get_world_size(group)
        self.rank = dist.get_rank(group)
        self.inner = None
        self._n_local = None  # local image tokens while a forward is between embed_tokens and before_head
        self._n_total = 0
        self._valid = None  # [Lp] bool, False at padding
        self._dit = None
        self.sharded_calls = 0  # attention calls that went through the all-to-all (a check for tests)

    # ---- installation ---------------------------------------------------------------------------------------
    def install(self, dit) -> SequenceParallel:
        heads = dit.config.heads_num
        if self.kind == "ulysses" and heads % self.world:
            raise InvalidOptionError(
                f"sequence parallel: {heads} heads do not divide over {self.world} ranks (try --sp ring)"
            )
        self._orig = dit.attn_backend
        self.inner = get_backend(dit.attn_backend)
        if self.kind == "ring":
            from vitascope.parallel.ring import Ring

            self.inner_lse = get_lse_backend(dit.attn_backend)
            self.ring = Ring(self.group, self.rank, self.world)
        dit.set_attention(self.attention)
        dit.add_plugin(self)
        self._dit = dit
        return self

    def remove(self) -> None:
        if self._dit is not None:
            self._dit.remove_plugin(self)
            self._dit.set_attention(self._orig)
            self._dit = None

    # ---- plugin hooks ---------------------------------------------------------------------------------------
    def embed_tokens(self, ctx) -> None:
        """Keep this rank's slice of the image tokens [B, L, D] -> [B, Lp/P, D] and of the RoPE rows."""
        B, L, D = ctx.img.shape
        P = self.world
        n = -(-L // P)  # local tokens
        pad = n * P - L
        img, (cos, sin) = ctx.img, ctx.rope
        if pad:
            img = F.pad(img, (0, 0, 0, pad))
            cos = torch.cat([cos, cos.new_ones(pad, cos.shape[1])])
            sin = torch.cat([sin, sin.new_zeros(pad, sin.shape[1])])
        self._valid = torch.arange(n * P, device=img.device) < L if pad else None
        lo = self.rank * n
        ctx.img = img[:, lo : lo + n]
        ctx.rope = (cos[lo : lo + n], sin[lo : lo + n])
        ctx.first = min(max(ctx.first - lo, 0), n)  # token-replace tokens that fall in this slice
        self._n_local, self._n_total, self._n_txt = n, L, ctx.txt.shape[1]
        ctx.extras["shard"] = self

    @property
    def token_range(self) -> tuple[int, int, int]:
        """(first, count, total): this rank holds tokens first .. first + count of the `total` [prefix; image]
        tokens (the last ranks' slices may run past `total` into padding)."""
        return self.rank * self._n_local, self._n_local, self._n_total

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """A local tensor over this rank's tokens [B, n, ...] -> the full one [B, total, ...] on every rank."""
        parts = [torch.empty_like(x) for _ in range(self.world)]
        _dist().all_gather(parts, x.contiguous(), group=self.group)
        return torch.cat(parts, dim=1)[:, : self._n_total]

    def all_sum(self, x: torch.Tensor) -> torch.Tensor:
        """Sum a tensor over the ranks (in place; returned): for statistics that must agree on every rank."""
        _dist().all_reduce(x, group=self.group)
        return x

    def local(self, x: torch.Tensor) -> torch.Tensor:
        """A full tensor [B, total, ...] -> this rank's padded slice [B, n, ...]."""
        lo, n, total = self.token_range
        pad = n * self.world - total
        if pad:
            x = torch.cat([x, x.new_zeros(x.shape[0], pad, *x.shape[2:])], dim=1)
        return x[:, lo : lo + n]

    def before_head(self, ctx) -> None:
        """Gather the image tokens back: [B, Lp/P, D] -> [B, L, D] on every rank."""
        ctx.img = self.gather(ctx.img)
        ctx.extras.pop("shard", None)
        self._n_local = None

    # ---- the attention wrapper ------------------------------------------------------------------------------
    def attention(self, q, k, v, mask):
        """q, k, v [B, Lloc + S, N, K] (image slice then text) -> [B, Lloc + S, N, K]."""
        n = self._n_local
        if n is None or q.shape[1] != n + self._n_txt:  # the text refiner, or not inside a sharded forward
            return self.inner(q, k, v, mask)
        self.sharded_calls += 1
        if self.kind == "ring":
            from vitascope.parallel.ring import ring_attention

            return ring_attention(self.inner_lse, self.ring, q, k, v, mask, n, self._n_total)
        h = q.shape[2] // self.world
        mine = slice(self.rank * h, (self.rank + 1) * h)
        full = [torch.cat([self._to_sequence(x[:, :n]), x[:, n:, mine]], dim=1) for x in (q, k, v)]
        out = self.inner(*full, self._full_mask(mask, q.shape[0]))  # [B, Lp + S, N/P, K]
        img = self._to_heads(out[:, : n * self.world])  # [B, Lloc, N, K]
        txt = self._gather_heads(out[:, n * self.world :])  # [B, S, N, K]
        return torch.cat([img, txt], dim=1)

    def _to_sequence(self, x):
        """[B, Lloc, N, K] (all heads, my tokens) -> [B, Lp, N/P, K] (my heads, all tokens)."""
        P = self.world
        B, n, N, K = x.shape
        send = x.reshape(B, n, P, N // P, K).permute(2, 0, 1, 3, 4).contiguous()  # [P, B, n, N/P, K]
        recv = torch.empty_like(send)
        _dist().all_to_all_single(recv, send, group=self.group)  # recv[i] = rank i's tokens, my heads
        return recv.permute(1, 0, 2, 3, 4).reshape(B, P * n, N // P, K)

    def _to_heads(self, x):
        """[B, Lp, N/P, K] (my heads, all tokens) -> [B, Lloc, N, K] (all heads, my tokens)."""
        P = self.world
        B, Lp, h, K = x.shape
        send = x.reshape(B, P, Lp // P, h, K).permute(1, 0, 2, 3, 4).contiguous()  # [P, B, n, h, K]
        recv = torch.empty_like(send)
        _dist().all_to_all_single(recv, send, group=self.group)  # recv[i] = my tokens, rank i's heads
        return recv.permute(1, 2, 0, 3, 4).reshape(B, Lp // P, P * h, K)

    def _gather_heads(self, x):
        parts = [torch.empty_like(x) for _ in range(self.world)]
        _dist().all_gather(parts, x.contiguous(), group=self.group)
        return torch.cat(parts, dim=2)

    def _full_mask(self, mask, B):
        """The key mask over [all image tokens; text]: padding masked, text columns as given."""
        if mask is None and self._valid is None:
            return None
        Lp = self._n_local * self.world
        dev = mask.device if mask is not None else self._valid.device
        img = self._valid if self._valid is not None else torch.ones(Lp, dtype=torch.bool, device=dev)
        img = img[None, None, None, :].expand(B, 1, 1, Lp)
        if mask is None:
            txt = torch.ones(B, 1, 1, self._n_txt, dtype=torch.bool, device=dev)
        else:
            txt = mask[..., self._n_local :].expand(B, 1, 1, self._n_txt)
        return torch.cat([img, txt], dim=-1)


__all__ = ["SequenceParallel"]
