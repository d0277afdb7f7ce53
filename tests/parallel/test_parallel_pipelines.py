"""Whole pipelines over 2 gloo processes equal 1 process: the tiny Avatar (sequence parallel with DeepCache's
cached steps), a windowed long T2V video (sequence parallel, ring attention) and CFG in parallel (the two
guidance branches on the two ranks). One spawn runs all three; the references run in this process."""

from __future__ import annotations

import dataclasses
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from vitascope.pipelines.avatar import AvatarOptions
from vitascope.pipelines.options import GenerationOptions

SR = 16000
AVATAR = dict(prompt="a man talks", steps=17, seed=3, image_size=64, face_box=(10, 10, 40, 50))
LONG = GenerationOptions(prompt="a red circle", seed=2, frames=17, steps=2, cfg_scale=1.0)
CFG = GenerationOptions(prompt="a red circle", negative_prompt="blue", seed=4, steps=3, cfg_scale=3.0)


def _avatar_inputs():
    rng = np.random.default_rng(0)
    photo = (rng.random((80, 64, 3)) * 255).astype(np.uint8)
    t = np.arange(int(0.6 * SR)) / SR
    voice = (0.3 * np.sin(2 * np.pi * 140 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    return AvatarOptions(image=photo, audio=voice, **AVATAR)


def _t2v_pipe(folder):
    from vitascope.pipelines.loader import load_pipeline

    pipe = load_pipeline(folder, device="cpu")
    pipe.defaults = dataclasses.replace(
        pipe.defaults, frames=9
    )  # 3 latent frames per clip: 17 frames -> windows
    return pipe


@torch.no_grad()
def _run_all(avatar_folder, t2v_folder, setup=None):
    """{name: avatar latents, or T2V frames}; setup(kind, pipe) installs a parallel scheme before each run (None: one process)."""
    from vitascope.pipelines.avatar_loader import load_avatar_pipeline

    out = {}
    avatar = load_avatar_pipeline(avatar_folder, device="cpu")
    t2v = _t2v_pipe(t2v_folder)
    for name, pipe, run in (
        ("avatar", avatar, lambda p: p.generate(_avatar_inputs()).latents),
        ("long", t2v, lambda p: torch.from_numpy(p.generate(LONG).video)),  # frames [F, H, W, 3] in [0, 1]
        ("cfg", t2v, lambda p: torch.from_numpy(p.generate(CFG).video)),
    ):
        undo = setup(name, pipe) if setup else None
        out[name] = run(pipe)
        if name == "avatar":
            out["avatar_cached_calls"] = torch.tensor(pipe.cache.cached_calls)
        if undo:
            undo()
    return out


def _worker(rank: int, world: int, port: int, folders, out: str) -> None:
    import torch.distributed as dist

    from vitascope.parallel.cfg import CFGParallel, parallel_groups
    from vitascope.parallel.sequence import SequenceParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    groups = parallel_groups(world, rank, cfg=True)  # collective: made up front, on every rank
    counts = {}

    def setup(name, pipe):
        if name == "cfg":
            pipe.cfg_parallel = cfg = CFGParallel(groups)

            def undo():
                counts["cfg_exchanges"] = cfg.exchanges
                pipe.cfg_parallel = None

            return undo
        sp = SequenceParallel(kind="ring" if name == "long" else "ulysses").install(pipe.dit)

        def undo():
            counts[f"{name}_sharded"] = sp.sharded_calls
            sp.remove()

        return undo

    try:
        res = _run_all(*folders, setup=setup)
        res.update({k: torch.tensor(v) for k, v in counts.items()})
        torch.save(res, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # writing the tiny Avatar folder alone takes ~20 s; 3 generations in 3 processes
@pytest.mark.timeout(600)
def test_pipelines_on_two_processes_equal_one(tmp_path):
    from vitascope.pipelines.tiny import write_tiny_model
    from vitascope.pipelines.tiny_avatar import write_tiny_avatar

    folders = (str(write_tiny_avatar(tmp_path / "avatar")), str(write_tiny_model(tmp_path / "t2v")))
    ref = _run_all(*folders)
    mp.spawn(_worker, args=(2, _free_port(), folders, str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for name in ("avatar", "long", "cfg"):
            assert got[name].shape == ref[name].shape
            assert (got[name] - ref[name]).abs().max() <= 1e-3, (rank, name)
        assert (
            int(got["avatar_cached_calls"]) == int(ref["avatar_cached_calls"]) > 0
        )  # DeepCache skipped steps
        assert int(got["avatar_sharded"]) > 0 and int(got["long_sharded"]) > 0
        assert int(got["cfg_exchanges"]) == CFG.steps  # every step's two branches ran on the two ranks
    assert ref["cfg"].abs().mean() > 0.1
