"""Two CPU processes over gloo with FSDP2 compute what one process computes with the same global batch."""

from __future__ import annotations

import json
import socket

import pytest
import torch
import torch.multiprocessing as mp

from vitascope.train.loop import train
from vitascope.train.recipes import get_recipe

STEPS = 4


def _recipe():
    # grad_accum=2 and both stages: accumulation and the stage switch are covered too.
    return get_recipe("tiny")[0].replace(
        grad_accum=2, checkpoint_every=STEPS, stages=get_recipe("tiny")[0].stages
    )


def _worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        res = train(_recipe(), f"{out}/run", max_steps=STEPS, resume=False)
        if rank == 0:
            with open(f"{out}/losses.json", "w") as f:
                json.dump(res.losses, f)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(300)
def test_two_gloo_processes_match_one_process(tmp_path):
    from safetensors.torch import load_file

    single = train(_recipe(), tmp_path / "one", max_steps=STEPS, resume=False)
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "two")), nprocs=2, join=True)
    two = json.loads((tmp_path / "two" / "losses.json").read_text())
    assert len(two) == STEPS
    torch.testing.assert_close(torch.tensor(two), torch.tensor(single.losses), rtol=1e-5, atol=1e-6)
    # The gathered checkpoint of the sharded run holds the same weights as the single-process one.
    a = load_file(str(tmp_path / "one" / "checkpoints" / f"step_{STEPS:06d}" / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "run" / "checkpoints" / f"step_{STEPS:06d}" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5)
