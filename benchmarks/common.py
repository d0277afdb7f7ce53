"""Shared helpers for the vitascope-vs-diffusers benchmarks: threads, interleaved timing, weights, FLOPs.

Not a test module and not collected by pytest. The benchmarks run on a shared machine, so every timing here
is *interleaved*: each round runs every contender once, in alternating order, and we report medians. Load
from other processes then hits both contenders alike instead of whichever happened to run second.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def setup_paths() -> None:
    """Make `vitascope` importable from a checkout without installing it."""
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)


def set_threads(n: int) -> int:
    """Pin torch's intra-op pool (the machine is shared; 1 thread gives the least noisy ratios)."""
    torch.set_num_threads(n)
    return torch.get_num_threads()


def quiet_diffusers() -> None:
    import diffusers.utils.logging
    import transformers.utils.logging

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


@dataclass
class Timing:
    """Wall-clock and process CPU seconds of each timed run.

    On a shared CPU machine wall time swings with other people's jobs; the CPU time this process spent is
    far steadier and, with one torch thread, is the latency an idle machine would show. Ratios are therefore
    taken on CPU time for one-thread CPU runs, and on wall time on CUDA (the host mostly waits) or with
    several threads (CPU time would sum the threads).
    """

    name: str
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    clock: str = "cpu"  # "cpu" | "wall": which list the medians and ratios use

    @property
    def seconds(self) -> list[float]:
        return self.cpu if self.clock == "cpu" else self.wall

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)


def sync(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def interleaved(
    contenders: dict[str, Callable[[], object]],
    warmup: int = 1,
    repeat: int = 5,
    device: str = "cpu",
    inner: int = 1,
) -> dict[str, Timing]:
    """Time each callable `repeat` times after `warmup` untimed calls, alternating contenders every round.

    The order flips each round (A B, B A, ...) so neither side always runs right after the other's cache
    pollution. Each timed run calls the contender `inner` times and records the mean, for calls of a few
    milliseconds. Returns name -> Timing.
    """
    names = list(contenders)
    for _ in range(warmup):
        for n in names:
            contenders[n]()
    sync(device)
    clock = "cpu" if torch.device(device).type == "cpu" and torch.get_num_threads() == 1 else "wall"
    out = {n: Timing(n, clock=clock) for n in names}
    for r in range(repeat):
        for n in names if r % 2 == 0 else names[::-1]:
            sync(device)
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(inner):
                contenders[n]()
            sync(device)
            out[n].wall.append((time.perf_counter() - w0) / inner)
            out[n].cpu.append((time.process_time() - c0) / inner)
    return out


def ratio_line(label: str, ours: Timing, ref: Timing, unit: str = "s/step") -> str:
    """One printed row: medians (best in brackets) and diffusers/vitascope (>1 means vitascope is faster)."""
    kind = ours.clock
    row = (
        f"{label:<28} vitascope {ours.median:8.4f} {unit} (best {ours.best:.4f})   "
        f"diffusers {ref.median:8.4f} {unit} (best {ref.best:.4f})   "
        f"ratio diffusers/vitascope {ref.median / ours.median:5.2f}x  [{kind} time]"
    )
    if kind == "cpu":
        row += (
            f"\n{'':<28} wall medians: vitascope {statistics.median(ours.wall):.4f}, "
            f"diffusers {statistics.median(ref.wall):.4f} (machine shared: wall time is noisy)"
        )
    return row


@torch.no_grad()
def init_weights(module: torch.nn.Module, seed: int = 0) -> None:
    """Deterministic, well-scaled random weights, in place, on whatever device the module lives.

    Matrices ~ N(0, 1/fan_in), norm weights 1, biases 0.02 N. Zero-initialised layers (adaLN, final layer)
    get real values too, so every block does work and activations stay O(1) over many steps (no NaN or
    denormals that would make a CPU timing meaningless). Works after `to_empty()` on a meta-built model.
    """
    dev = next(module.parameters()).device
    g = torch.Generator(device=dev).manual_seed(seed)
    for name, p in sorted(module.named_parameters()):
        if p.ndim == 1 and "norm" in name and name.endswith("weight"):
            p.fill_(1.0)
        elif p.ndim == 1:
            p.copy_(0.02 * torch.randn(p.shape, generator=g, device=dev, dtype=torch.float32))
        else:
            fan_in = math.prod(p.shape[1:])
            p.copy_(torch.randn(p.shape, generator=g, device=dev, dtype=torch.float32) / math.sqrt(fan_in))
    for b in module.buffers():  # to_empty leaves buffers as garbage; none of the DiT's are meaningful weights
        if b.is_floating_point():
            b.zero_()


def dit_flops(cfg, latent: tuple[int, int, int], text_tokens: int, batch: int = 1) -> dict[str, float]:
    """Analytic FLOPs of one DiT forward (2 FLOPs per multiply-add; docs/performance.md has the formula).

    latent: (T, H, W) of the latent before patching; text_tokens: S, the padded text length (the kernels
    compute over the padding too). Returns {"linear", "attention", "total"} in FLOPs.
    """
    pt, ph, pw = cfg.patch_size
    T, H, W = latent
    L = (T // pt) * (H // ph) * (W // pw)
    S, h, m = text_tokens, cfg.hidden_size, cfg.mlp_hidden
    N = L + S
    blocks = cfg.mm_double_blocks_depth + cfg.mm_single_blocks_depth
    patch = cfg.in_channels * pt * ph * pw
    per_token_block = 4 * h * h + 2 * h * m  # qkv 3h^2 + proj h^2 + mlp 2hm (single blocks: same sum)
    linear = 2 * N * per_token_block * blocks
    linear += 2 * S * (cfg.text_states_dim * h + cfg.refiner_depth * (4 * h * h + 8 * h * h))  # refiner
    linear += 2 * L * patch * h * 2  # patch embed in, final projection out
    attention = 4 * N * N * h * blocks + cfg.refiner_depth * 4 * S * S * h
    return {"linear": batch * linear, "attention": batch * attention, "total": batch * (linear + attention)}
