"""One attention entry point for every model in vitascope, and a registry of backends.

Inputs are laid out token-major, `[B, L, N, K]`, because that is how the fused qkv projections come out; the
backends transpose as they need. Backends are picked explicitly, by name or as a callable, from outside the
model (`model.set_attention(...)`); a missing one raises a clear error instead of silently falling back, so a
benchmark never measures something other than what it names.

A backend is `fn(q, k, v, mask) -> [B, L, N, K]` where `mask` is None or a boolean `[B, 1 or N, L, L']`
(True = may attend). Wrappers (sequence parallel) take a backend and return one. A backend may also register
an `lse` form, `fn(q, k, v, mask) -> (out [B, L, N, K], lse [B, N, L] float32)`, the log-sum-exp of each
query's scores: ring attention merges partial results over key blocks with it (`get_lse_backend`).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vitascope.errors import InvalidOptionError

Backend = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class BackendEntry:
    fn: Backend
    requires: str | None = None  # the importable module this backend needs
    hint: str = ""  # what to do when it is missing
    lse: Backend | None = None  # the same attention also returning the log-sum-exp of the scores


_REGISTRY: dict[str, BackendEntry] = {}


def register_backend(
    name: str, fn: Backend, *, requires: str | None = None, hint: str = "", lse: Backend | None = None
) -> None:
    """Add a backend under `name` (replacing one of the same name); `lse`: its log-sum-exp form, if any."""
    _REGISTRY[name] = BackendEntry(fn, requires, hint, lse)


def available_backends() -> list[str]:
    """Registered backends whose packages are importable here."""
    return [n for n, e in _REGISTRY.items() if e.requires is None or _importable(e.requires)]


def get_backend(backend: str | Backend) -> Backend:
    """The callable for a name (or the callable itself); a clear error when unknown or not installed."""
    if callable(backend):
        return backend
    entry = _REGISTRY.get(backend)
    if entry is None:
        raise InvalidOptionError(f"attention backend must be one of {sorted(_REGISTRY)}, got {backend!r}")
    if entry.requires is not None and not _importable(entry.requires):
        raise InvalidOptionError(f"attention backend {backend!r} is not installed: {entry.hint}")
    return entry.fn


def get_lse_backend(backend: str) -> Backend:
    """The log-sum-exp form of a named backend (ring attention needs it); a clear error when it has none."""
    fn = get_backend(backend)
    entry = _REGISTRY[backend] if isinstance(backend, str) else None
    if entry is None or entry.lse is None:
        has = sorted(n for n, e in _REGISTRY.items() if e.lse is not None)
        raise InvalidOptionError(
            f"attention backend {getattr(fn, '__name__', backend)!r} gives no log-sum-exp, which ring attention "
            f"needs: use one of {has}"
        )
    return entry.lse


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_mask: torch.Tensor | None = None,
    pair_mask: torch.Tensor | None = None,
    backend: str | Backend = "sdpa",
) -> torch.Tensor:
    """Scaled dot-product attention with scale 1/sqrt(K).

    q, k, v: [B, L, N, K]. key_mask: [B, L] bool, True where a key may be attended to.
    pair_mask: [B, 1 or N, L, L] bool, True where query i may attend to key j (the token refiner's mask).
    Returns [B, L, N*K].
    """
    fn = get_backend(backend)
    return fn(q, k, v, combine_masks(key_mask, pair_mask)).flatten(2)  # [B, L, N*K]


def combine_masks(key_mask, pair_mask):
    mask = None
    if key_mask is not None:
        mask = key_mask[:, None, None, :].bool()  # [B, 1, 1, L]
    if pair_mask is not None:
        mask = pair_mask.bool() if mask is None else (mask & pair_mask.bool())
    return mask


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def sdpa(q, k, v, mask):
    return F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask
    ).transpose(1, 2)


def math_attention(q, k, v, mask):
    """The plain reference every fast path is tested against (float32 softmax)."""
    q, k, v = (x.transpose(1, 2) for x in (q, k, v))  # [B, N, L, K]
    scores = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    out = scores.softmax(dim=-1) @ v.float()
    return out.to(q.dtype).transpose(1, 2)  # [B, L, N, K]


def math_attention_lse(q, k, v, mask):
    """math_attention, also returning the log-sum-exp of each query's scores [B, N, L] (float32)."""
    q, k, v = (x.transpose(1, 2) for x in (q, k, v))  # [B, N, L, K]
    scores = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    lse = scores.logsumexp(dim=-1)  # [B, N, L]
    out = (scores - lse[..., None]).exp().nan_to_num() @ v.float()  # a fully masked row gives 0, not NaN
    return out.to(q.dtype).transpose(1, 2), lse


def sdpa_lse(q, k, v, mask):
    """SDPA's own fused kernels, which compute the log-sum-exp anyway: the CPU flash kernel, CUDA's
    memory-efficient kernel (which takes an additive mask); elsewhere the math form."""
    if q.device.type not in ("cpu", "cuda"):
        return math_attention_lse(q, k, v, mask)
    qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))  # [B, N, L, K]
    B, N, L, _ = qt.shape
    bias = None
    if mask is not None:  # additive: 0 where allowed, -inf where not
        bias = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill(~mask, float("-inf"))
    if q.device.type == "cpu":
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            qt, kt, vt, 0.0, False, attn_mask=bias
        )
    else:  # not run in CI (no GPU there): see docs/speed.md
        if bias is not None:
            bias = bias.expand(B, N, L, kt.shape[2])
        out, lse = torch.ops.aten._scaled_dot_product_efficient_attention(qt, kt, vt, bias, True)[:2]
        lse = lse[..., :L]  # padded to a multiple of 32 queries
    lse = lse.float()
    if mask is not None:  # the kernels give a query that sees no key lse 0 (and output 0): make it -inf
        lse = lse.masked_fill(~mask.any(dim=-1), float("-inf"))
    return out.transpose(1, 2), lse


def flash(q, k, v, mask):
    from flash_attn import flash_attn_func

    if mask is not None:
        # Masked batches (padded text of unequal prompts) go through SDPA, which is exact and still fused on
        # GPU; the pipelines trim padding once per prompt, so batch-1 generation never gets here.
        return sdpa(q, k, v, mask)
    return flash_attn_func(q, k, v)


def flash_lse(q, k, v, mask):
    """flash-attn's own log-sum-exp (CUDA only, not run in CI)."""
    from flash_attn import flash_attn_func

    if mask is not None:
        return sdpa_lse(q, k, v, mask)
    out, lse, _ = flash_attn_func(q, k, v, return_attn_probs=True)
    return out, lse.float()  # [B, L, N, K], [B, N, L]


def sage(q, k, v, mask):
    from sageattention import sageattn

    if mask is not None:
        return sdpa(q, k, v, mask)
    return sageattn(q, k, v, tensor_layout="NHD", is_causal=False)


register_backend("sdpa", sdpa, lse=sdpa_lse)
register_backend("math", math_attention, lse=math_attention_lse)
register_backend(
    "flash",
    flash,
    requires="flash_attn",
    hint="pip install flash-attn (CUDA only), or use backend 'sdpa'",
    lse=flash_lse,
)
register_backend(
    "sage",
    sage,
    requires="sageattention",
    hint="pip install sageattention (CUDA only), or use backend 'sdpa'",
)
