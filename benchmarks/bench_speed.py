"""Each speed/memory feature against the plain path, as ratios, in one run (CPU; GPU figures not measured).

One DiT of a medium size is built with random weights; each contender is a copy with one transform applied,
and all run the same inputs, interleaved (common.interleaved). Printed per feature: s/call, plain/feature
(>1 = the feature is faster), the parameter bytes that stay on the compute device, and max |difference| from
the plain output. Step caches are measured by bench_cache.py (whole pipeline, PSNR); sequence parallel's
speed needs several devices and is not measured here (tests/parallel/test_sequence_parallel.py checks that it
is exact).

    PYTHONPATH=src python3 benchmarks/bench_speed.py [--threads 1] [--repeat 3] [--compile]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import init_weights, interleaved, set_threads, setup_paths  # noqa: E402

setup_paths()


def device_bytes(model: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--compile", action="store_true", help="also time regional torch.compile (slow to warm up)"
    )
    args = ap.parse_args()
    set_threads(args.threads)

    from vitascope.models.dit import HunyuanVideoDiT
    from vitascope.models.dit.context import DiTInputs
    from vitascope.parallel.fp8 import quantize_fp8
    from vitascope.parallel.offload import offload_blocks
    from vitascope.parallel.speed import compile_blocks
    from vitascope.specs import TINY

    cfg = dataclasses.replace(
        TINY, hidden_size=256, heads_num=4, mm_double_blocks_depth=2, mm_single_blocks_depth=4,
        rope_dim_list=(16, 24, 24),
    )  # fmt: skip
    plain = HunyuanVideoDiT(cfg).eval()
    init_weights(plain, 0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 16, 5, 16, 16, generator=g)  # 5 x 8 x 8 = 320 image tokens
    inp = DiTInputs(
        torch.randn(1, 16, 24, generator=g), None, torch.randn(1, 20, generator=g), torch.tensor([6000.0])
    )
    t = torch.tensor([500.0])

    models = {"plain": plain}
    models["fp8 (per channel)"] = quantize_fp8(copy.deepcopy(plain))
    models["math attention"] = copy.deepcopy(plain)
    models["math attention"].set_attention("math")
    offloaded = copy.deepcopy(plain)
    resident_before = device_bytes(offloaded)
    off = offload_blocks(offloaded, "cpu")
    models["block offload (cpu->cpu)"] = offloaded
    if args.compile:
        models["compile (regional)"] = copy.deepcopy(plain)
        compile_blocks(models["compile (regional)"])

    with torch.no_grad():
        ref = plain.run(x, t, inp)
        diffs = {n: float((m.run(x, t, inp) - ref).abs().max()) for n, m in models.items()}
        timings = interleaved(
            {n: (lambda m=m: m.run(x, t, inp)) for n, m in models.items()}, repeat=args.repeat
        )
    base = timings["plain"].median
    print(f"DiT {cfg.hidden_size}x{cfg.mm_double_blocks_depth}+{cfg.mm_single_blocks_depth} blocks, 320+16 tokens, "
          f"{args.threads} thread(s), {timings['plain'].clock} time")  # fmt: skip
    for n, m in models.items():
        tm = timings[n].median
        resident = device_bytes(m)
        if n.startswith("block offload"):  # dropped blocks hold nothing; at most two come in at a time
            resident += 2 * max(device_bytes(b) for b in (*plain.double_blocks, *plain.single_blocks))
        print(
            f"{n:<26} {tm:8.4f} s/call   plain/feature {base / tm:5.2f}x   "
            f"device bytes {resident / 2**20:7.2f} MiB ({resident / device_bytes(plain):.2f} of plain)   "
            f"max|diff| {diffs[n]:.2e}"
        )
    print(
        f"block offload peak: {off.resident_peak} blocks resident; {resident_before / 2**20:.2f} MiB without offload"
    )


if __name__ == "__main__":
    main()
