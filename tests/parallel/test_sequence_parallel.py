"""Sequence parallel over 2 gloo processes equals 1 process, Ulysses and ring attention alike: the DiT output
and a few sampler steps (one spawn runs both kinds, one after the other, on the same model)."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.multiprocessing as mp

from _helpers import reseed_parameters
from vitascope.models.dit import HunyuanVideoDiT
from vitascope.models.dit.context import DiTInputs
from vitascope.models.dit.sampling import TextCondition, sample_dit
from vitascope.parallel.cache import StepCache
from vitascope.specs import TINY


def _inputs():
    """Latents with an odd token count (3x3x3 = 27: padding to 28 is exercised) and padded text."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 16, 3, 6, 6, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    text = TextCondition(torch.randn(1, 6, 24, generator=g), mask, torch.randn(1, 20, generator=g))
    neg = TextCondition(torch.randn(1, 6, 24, generator=g), torch.ones(1, 6), torch.randn(1, 20, generator=g))
    return x, text, neg


def _model():
    dit = HunyuanVideoDiT(TINY).eval()
    reseed_parameters(dit, 5)
    return dit


@torch.no_grad()
def _run(dit):
    x, text, neg = _inputs()
    g = torch.tensor([4000.0])
    t = torch.tensor([700.0])
    outs = {}
    for name, tr in (("t2v", False), ("token_replace", True)):
        inputs = DiTInputs(
            text.states, text.mask, text.pooled, guidance=g, token_replace=tr, text_padded=True
        )
        outs[name] = dit.run(x, t, inputs)
    outs["latents"] = sample_dit(
        dit, x, text, neg, steps=3, shift=3.0, guidance=4.0, cfg_scale=2.0, dtype=torch.float32
    )
    # step caches whose skip decisions vary over the 12 calls (measured in one process): every rank must take
    # the one-process decision from its slice, or the ranks wait on each other
    for spec in ("fbcache:0.8", "teacache:0.4"):
        cache = StepCache.parse(spec).install(dit)
        outs[spec] = sample_dit(
            dit, x, text, neg, steps=6, shift=3.0, guidance=4.0, cfg_scale=2.0, dtype=torch.float32,
            wrap_predict=cache.wrap,
        )  # fmt: skip
        cache.remove()
        outs[spec + " calls"] = torch.tensor([cache.stats["full"], cache.stats["cached"]])
    return outs


def _worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    from vitascope.parallel.sequence import SequenceParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        dit = _model()
        for kind in ("ulysses", "ring"):
            sp = SequenceParallel(kind=kind).install(dit)
            outs = _run(dit)
            sp.remove()
            outs["sharded_calls"] = torch.tensor(sp.sharded_calls)
            torch.save(outs, f"{out}/{kind}{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(300)
def test_two_gloo_processes_equal_one(tmp_path):
    ref = _run(_model())
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    for kind in ("ulysses", "ring"):
        for rank in (0, 1):
            _check(torch.load(tmp_path / f"{kind}{rank}.pt", weights_only=True), ref, (kind, rank))
    assert ref["t2v"].abs().mean() > 0.1  # the model does something


def _check(got, ref, where):
    for name in ("t2v", "token_replace"):
        assert (got[name] - ref[name]).abs().max() <= 1e-4, (where, name)
        assert (got["latents"] - ref["latents"]).abs().max() <= 1e-3
        # 2 blocks per DiT call; 2 direct calls + 3 steps x 2 branches
    for spec in ("fbcache:0.8", "teacache:0.4"):
        assert (got[spec] - ref[spec]).abs().max() <= 1e-3, (where, spec)
        assert got[spec + " calls"].tolist() == ref[spec + " calls"].tolist(), (where, spec)
        assert 0 < int(ref[spec + " calls"][1]) < 12  # some calls skipped, not all
    # 2 blocks (1 double, 1 single) per full DiT call: 2 direct calls + 3 steps x 2 branches; fbcache's skipped
    # calls run the first block only, teacache's none
    (fb_full, fb_cached), (tea_full, _) = (
        ref["fbcache:0.8 calls"].tolist(),
        ref["teacache:0.4 calls"].tolist(),
    )
    assert int(got["sharded_calls"]) == 2 * (2 + 6) + 2 * fb_full + fb_cached + 2 * tea_full, where


def test_ring_merge_equals_one_softmax():
    """The log-sum-exp merge over key blocks (with a masked key and a block the query cannot see) equals one
    softmax over all keys, for both backends that have a log-sum-exp form."""
    from vitascope.nn.attention import get_lse_backend, math_attention
    from vitascope.parallel.ring import merge

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 5, 3, 8, generator=g) for _ in range(3))
    mask = torch.ones(2, 1, 1, 5, dtype=torch.bool)
    mask[0, ..., 3:] = False  # sample 0: the last block is all masked
    mask[1, ..., 1] = False
    ref = math_attention(q, k, v, mask)
    for name in ("sdpa", "math"):
        fn = get_lse_backend(name)
        acc = None
        for sl in (slice(0, 2), slice(2, 3), slice(3, 5)):
            acc = merge(acc, fn(q, k[:, sl], v[:, sl], mask[..., sl]))
        assert (acc[0] - ref).abs().max() < 1e-5, name


def _cfg_worker(rank: int, world: int, port: int, out: str) -> None:
    """CFG x SP: ranks 0-1 run the cond branch, 2-3 the negative one, each pair ring-parallel over its half."""
    import torch.distributed as dist

    from vitascope.parallel.cfg import CFGParallel, parallel_groups
    from vitascope.parallel.sequence import SequenceParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        groups = parallel_groups(world, rank, cfg=True)
        dit = _model()
        sp = SequenceParallel(groups.sp_group, kind="ring").install(dit)
        cfg = CFGParallel(groups)
        x, text, neg = _inputs()
        with torch.no_grad():
            lat = sample_dit(
                dit, x, text, neg, steps=3, shift=3.0, guidance=4.0, cfg_scale=2.0, dtype=torch.float32,
                wrap_guided=cfg.wrap,
            )  # fmt: skip
        calls = torch.tensor([sp.sharded_calls, cfg.exchanges])
        torch.save({"latents": lat, "calls": calls}, f"{out}/cfg{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(300)
def test_cfg_parallel_times_sequence_parallel_equals_one_process(tmp_path):
    x, text, neg = _inputs()
    with torch.no_grad():
        ref = sample_dit(
            _model(), x, text, neg, steps=3, shift=3.0, guidance=4.0, cfg_scale=2.0, dtype=torch.float32
        )
    mp.spawn(_cfg_worker, args=(4, _free_port(), str(tmp_path)), nprocs=4, join=True)
    for rank in range(4):
        got = torch.load(tmp_path / f"cfg{rank}.pt", weights_only=True)
        assert (got["latents"] - ref).abs().max() <= 1e-3, rank
        # each rank ran one branch per step (3 steps x 2 blocks through the ring), and exchanged 3 times
        assert got["calls"].tolist() == [3 * 2, 3], rank
