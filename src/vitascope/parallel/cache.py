"""Step caches for a built DiT, installed from outside: one mechanism, three policies.

    cache = StepCache.parse("teacache:0.1")      # or "fbcache:0.05", "deepcache:5", "none"
    cache.install(dit)                           # wraps dit.run_blocks (an instance attribute, removable)
    predict = cache.wrap(predict)                # tells the cache which branch and step each DiT call is for

Each conditioning branch ("cond", "negative", ...) keeps its own state, keyed also by the latent grid and
frame offset so context windows do not mix. A skipped call still runs the DiT's embeddings and head.

- teacache:  the relative L1 change of the first double block's modulated image input, rescaled by a
             polynomial (identity unless given), accumulated over steps; while the sum stays below the
             threshold the call reuses the residual (output tokens - input tokens) of the last full call.
             The first and last steps always run in full.
- fbcache:   the first double block always runs; when its residual differs from the one of the last full call
             by less than the threshold (relative L1), the other blocks are skipped and their last residual
             reused.
- deepcache: the HunyuanVideo-Avatar schedule: full steps 0 .. 0.3N-1, every `interval`-th step up to 0.8N,
             then every step; at the other steps only the last single block runs, on the stored input of that
             block from the last full step (with this step's conditioning vector). `deepcache:5` at 50 steps
             runs 30 full steps, as the Avatar does.

Threshold 0 (interval 1 for deepcache) never skips, and the output is then bit-identical to the uncached model.
`stats` counts DiT calls: full and cached.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from vitascope.errors import InvalidOptionError

log = logging.getLogger(__name__)

POLICIES = ("none", "teacache", "fbcache", "deepcache")
DEFAULTS = {"teacache": 0.1, "fbcache": 0.05, "deepcache": 5.0, "none": 0.0}


class _SkipRest(Exception):
    """Raised from the first-block hook to leave run_blocks early (the remaining blocks are reused)."""


def _rel_l1(a: torch.Tensor, b: torch.Tensor, ctx=None) -> float:
    """mean|a - b| / mean|b| over image tokens [B, L, D]. Under sequence parallel (`ctx.extras["shard"]`) each
    rank holds a slice: the sums over its real tokens are added over the ranks, so every rank gets the
    one-process value and takes the same skip decision (different decisions would leave ranks waiting on
    each other's collectives)."""
    shard = ctx.extras.get("shard") if ctx is not None else None
    if shard is None:
        return float((a - b).abs().mean() / b.abs().mean().clamp_min(1e-12))
    lo, n, total = shard.token_range
    real = max(0, min(n, total - lo))  # the last slices end in padding
    sums = torch.stack([(a - b)[:, :real].abs().sum(), b[:, :real].abs().sum()]).float()
    sums = shard.all_sum(sums)
    return float(sums[0] / sums[1].clamp_min(1e-12))


@dataclass
class _State:
    acc: float = 0.0  # teacache: accumulated rescaled change since the last full call
    prev_mod: torch.Tensor | None = None  # teacache: modulated input at the previous call
    residual: torch.Tensor | None = None  # reused image-token residual
    first_res: torch.Tensor | None = None  # fbcache: first block residual of the last full call
    last_in: torch.Tensor | None = None  # deepcache: input of the last single block [B, L+S, D]


@dataclass
class StepCache:
    policy: str = "none"
    threshold: float = 0.0
    rescale: tuple[float, ...] = ()  # teacache polynomial, highest power first; () = identity
    stats: dict = field(default_factory=lambda: {"full": 0, "cached": 0})

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise InvalidOptionError(f"cache policy must be one of {POLICIES}, got {self.policy!r}")
        if not self.threshold >= 0:
            raise InvalidOptionError(f"cache threshold must be >= 0, got {self.threshold}")
        self._states: dict = {}
        self._key = None  # (branch) set by the wrapped predict
        self._step = None
        self._dit = None
        self._orig_run_blocks = None

    @classmethod
    def parse(cls, spec: str | None) -> StepCache:
        """'POLICY[:THRESHOLD]' -> StepCache; None or '' -> no cache."""
        if not spec:
            return cls()
        name, _, thr = spec.partition(":")
        name = name.strip().lower()
        if name not in POLICIES:
            raise InvalidOptionError(f"--cache must be POLICY[:THRESHOLD] with POLICY one of {POLICIES}")
        try:
            value = float(thr) if thr else DEFAULTS[name]
        except ValueError:
            raise InvalidOptionError(f"--cache threshold must be a number, got {thr!r}") from None
        return cls(name, value)

    @property
    def spec(self) -> str:
        return "none" if self.policy == "none" else f"{self.policy}:{self.threshold:g}"

    # ---- installation ---------------------------------------------------------------------------------------
    def install(self, dit) -> StepCache:
        if self._dit is not None:
            raise RuntimeError("this cache is already installed on a model")
        stale = getattr(vars(dit).get("run_blocks"), "__self__", None)
        if isinstance(stale, StepCache):  # left installed by a run that raised (a cancelled job)
            stale.remove()
        self._dit, self._orig_run_blocks = dit, dit.run_blocks
        dit.run_blocks = self._run_blocks  # instance attribute shadows the method; remove() deletes it
        if self.policy == "fbcache":
            dit.add_plugin(self)
        return self

    def remove(self) -> None:
        if self._dit is None:
            return
        del self._dit.run_blocks
        if self in self._dit._plugins:
            self._dit.remove_plugin(self)
        self._dit = self._orig_run_blocks = None

    def reset(self) -> None:
        self._states.clear()
        self.stats = {"full": 0, "cached": 0}

    def wrap(self, predict):
        """A Predict that tells the cache the branch and step of each DiT call it makes."""

        def cached_predict(x, t, branch, step):
            if step.index == 0 and branch == "cond":
                self._states.clear()  # a new generation
            self._key, self._step = branch, step
            try:
                return predict(x, t, branch, step)
            finally:
                self._key = self._step = None

        return cached_predict

    # ---- the wrapped run_blocks ----------------------------------------------------------------------------------
    def _run_blocks(self, ctx):
        if self._key is None or self.policy == "none" or self.threshold == 0:
            self.stats["full"] += 1
            return self._orig_run_blocks(ctx)
        key = (self._key, ctx.grid, ctx.inputs.frame_offset, ctx.img.shape)
        st = self._states.setdefault(key, _State())
        ctx.extras["cache_state"] = st
        run = {"teacache": self._teacache, "fbcache": self._fbcache, "deepcache": self._deepcache}
        return run[self.policy](ctx, st)

    def _full(self, ctx, st):
        """All blocks; remember the image-token residual."""
        img_in = ctx.img
        self._orig_run_blocks(ctx)
        st.residual = ctx.img - img_in
        self.stats["full"] += 1
        return ctx

    def _reuse(self, ctx, st, img):
        ctx.n_img = img.shape[1]
        ctx.img = img + st.residual
        self.stats["cached"] += 1
        return ctx

    def _teacache(self, ctx, st):
        block = self._dit.double_blocks[0]
        shift, scale = block.img_mod(ctx.vec)[0:2]  # [B, D] each
        mod = block.img_norm1(ctx.img) * (1 + scale[:, None]) + shift[:, None]  # [B, L, D]
        step = self._step
        edge = step.index == 0 or step.index == step.total - 1
        if st.prev_mod is not None and not edge:
            change = _rel_l1(mod, st.prev_mod, ctx)
            if self.rescale:
                change = float(sum(c * change**p for p, c in enumerate(reversed(self.rescale))))
            st.acc += change
        st.prev_mod = mod
        if edge or st.residual is None or st.acc >= self.threshold:
            st.acc = 0.0
            return self._full(ctx, st)
        return self._reuse(ctx, st, ctx.img)

    # fbcache: the decision sits in the after_double(0) hook, so the model's own run_blocks runs the blocks.
    def after_double(self, i, ctx):
        st = ctx.extras.get("cache_state")
        if i != 0 or st is None or self._key is None:
            return
        first_res = ctx.img - ctx.extras["fb_in"]
        ctx.extras["fb_first"] = ctx.img
        if st.first_res is not None and st.residual is not None:
            if _rel_l1(first_res, st.first_res, ctx) < self.threshold:
                raise _SkipRest
        st.first_res = first_res

    def _fbcache(self, ctx, st):
        ctx.extras["fb_in"] = ctx.img
        try:
            self._orig_run_blocks(ctx)
        except _SkipRest:
            return self._reuse(ctx, st, ctx.extras["fb_first"])
        st.residual = ctx.img - ctx.extras["fb_first"]  # of the blocks after the first
        self.stats["full"] += 1
        return ctx

    def _deepcache(self, ctx, st):
        step, dit = self._step, self._dit
        if deepcache_full(step.index, step.total, int(self.threshold)) or st.last_in is None:
            return self._deepcache_full(ctx, st)
        ctx.n_img = ctx.img.shape[1]
        h = dit._run(dit.single_blocks[-1], st.last_in, ctx)  # [B, L+S, D]
        ctx.img, ctx.txt = h[:, : ctx.n_img], h[:, ctx.n_img :]
        self.stats["cached"] += 1
        return ctx

    def _deepcache_full(self, ctx, st):
        block = self._dit.single_blocks[-1]

        def grab(module, args):
            st.last_in = args[0]

        handle = block.register_forward_pre_hook(grab)
        try:
            self._orig_run_blocks(ctx)
        finally:
            handle.remove()
        self.stats["full"] += 1
        return ctx


def deepcache_full(index: int, total: int, interval: int) -> bool:
    """The Avatar's schedule scaled to `total` steps: full before 0.3N, every `interval` to 0.8N, then all."""
    if interval <= 1:
        return True
    start, end = round(0.3 * total), round(0.8 * total)
    return index < start or index >= end or (index - start) % interval == 0


__all__ = ["POLICIES", "StepCache", "deepcache_full"]
