"""Sequence and CFG parallel against one process, on CPU with gloo: seconds per DiT call and per sampler step.

One process runs the plain DiT; then 2 spawned gloo processes (1 thread each) run the same call under Ulysses,
under ring attention, and a CFG sampler step under CFG parallel (each rank one branch). Printed: the median
wall seconds of --repeat calls after a warm-up, the ratio one process / parallel (> 1: the parallel run is
faster) and the max difference to the one-process output. On CPU both processes share the machine's cores
and gloo moves tensors through local sockets, so this measures overhead and exactness, not the scaling the
same code gets on GPUs with NCCL.

    PYTHONPATH=src python3 benchmarks/bench_parallel.py [--repeat 3] [--tokens 16x16x4]
"""

from __future__ import annotations

import argparse
import dataclasses
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import init_weights, setup_paths  # noqa: E402

setup_paths()

from vitascope.models.dit import HunyuanVideoDiT  # noqa: E402
from vitascope.models.dit.context import DiTInputs  # noqa: E402
from vitascope.specs import TINY  # noqa: E402

CONFIG = dataclasses.replace(
    TINY,
    hidden_size=256,
    heads_num=4,
    mm_double_blocks_depth=2,
    mm_single_blocks_depth=4,
    rope_dim_list=(16, 24, 24),
)  # fmt: skip  (bench_speed.py's medium DiT)


def _setup(grid):
    dit = HunyuanVideoDiT(CONFIG).eval()
    init_weights(dit, seed=0)
    g = torch.Generator().manual_seed(1)
    T, H, W = grid
    x = torch.randn(1, CONFIG.in_channels, T, 2 * H, 2 * W, generator=g)
    text = [torch.randn(1, 16, CONFIG.text_states_dim, generator=g) for _ in range(2)]
    pooled = torch.randn(1, CONFIG.text_states_dim_2, generator=g)
    guidance = torch.tensor([4000.0]) if CONFIG.guidance_embed else None
    inputs = [DiTInputs(s, None, pooled, guidance, token_replace=False, text_padded=False) for s in text]
    return dit, x, inputs


def _time(fn, repeat):
    fn()  # warm-up
    secs = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        secs.append(time.perf_counter() - t)
    return statistics.median(secs), out


def _cfg(run):
    """One CFG sampler step's two DiT calls combined (scale 4); run(0) = cond, run(1) = negative."""
    cond, uncond = run(0), run(1)
    return uncond + 4.0 * (cond - uncond)


@torch.no_grad()
def _worker(rank, world, port, grid, repeat, out):
    import torch.distributed as dist

    from vitascope.parallel.cfg import CFGParallel, parallel_groups
    from vitascope.parallel.sequence import SequenceParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    dit, x, inputs = _setup(grid)
    t = torch.tensor([700.0])
    res = {}
    for kind in ("ulysses", "ring"):
        sp = SequenceParallel(kind=kind).install(dit)
        res[kind] = _time(lambda: dit.run(x, t, inputs[0]), repeat)
        sp.remove()
    from vitascope.flow.sampler import StepInfo, constant_guidance

    cfg = CFGParallel(parallel_groups(world, rank, cfg=True))
    names = ("cond", "negative")
    predict = cfg.wrap(lambda x, t, b, step: dit.run(x, t, inputs[names.index(b)]), constant_guidance(4.0))
    step = StepInfo(0, 1, 1.0, 0.0)
    res["cfg"] = _time(lambda: _cfg(lambda i: predict(x, t, names[i], step)), repeat)
    torch.save({k: (s, o) for k, (s, o) in res.items()}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tokens", default="4x16x16", help="post-patch grid TxHxW")
    args = ap.parse_args()
    grid = tuple(int(v) for v in args.tokens.split("x"))
    torch.set_num_threads(1)
    dit, x, inputs = _setup(grid)
    t = torch.tensor([700.0])
    with torch.no_grad():
        one_call, ref = _time(lambda: dit.run(x, t, inputs[0]), args.repeat)
        one_step, ref_step = _time(lambda: _cfg(lambda b: dit.run(x, t, inputs[b])), args.repeat)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(_worker, args=(2, port, grid, args.repeat, d), nprocs=2, join=True)
        got = torch.load(f"{d}/rank0.pt", weights_only=True)
    L = grid[0] * grid[1] * grid[2]
    print(
        f"DiT hidden {CONFIG.hidden_size}, {CONFIG.heads_num} heads, 2+4 blocks, {L} image + 16 text tokens, fp32"
    )
    print(f"{'contender':<34} {'s':>8} {'1 proc / it':>12} {'max diff':>10}")
    print(f"{'1 process, one DiT call':<34} {one_call:8.3f} {1.0:12.2f} {0:10.1e}")
    for kind in ("ulysses", "ring"):
        s, out = got[kind]
        print(f"{'2 processes, ' + kind:<34} {s:8.3f} {one_call / s:12.2f} {(out - ref).abs().max():10.1e}")
    print(f"{'1 process, CFG step (2 calls)':<34} {one_step:8.3f} {1.0:12.2f} {0:10.1e}")
    s, out = got["cfg"]
    print(
        f"{'2 processes, CFG parallel':<34} {s:8.3f} {one_step / s:12.2f} {(out - ref_step).abs().max():10.1e}"
    )


if __name__ == "__main__":
    main()
