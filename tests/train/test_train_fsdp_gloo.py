"""Two CPU processes over gloo with FSDP2: the same losses as one process, sharded checkpoints that resume
on a different number of processes with the same EMA, and the real `torchrun vitascope train`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from vitascope.train.loop import train
from vitascope.train.recipes import get_recipe

STEPS = 4
HALF = 2


def _recipe():
    # grad_accum=2 and both stages: accumulation and the stage switch are covered too.
    return get_recipe("tiny")[0].replace(grad_accum=2, checkpoint_every=HALF)


def _worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        res = train(_recipe(), f"{out}/run", max_steps=HALF, resume=False)
        if rank == 0:
            Path(out, "losses.json").write_text(json.dumps(res.losses))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "export" / "transformer" / "model.safetensors"))


@pytest.mark.timeout(900)
def test_two_processes_then_one_match_one_process_throughout(tmp_path):
    single = train(_recipe(), tmp_path / "one", max_steps=STEPS, resume=False)
    # Steps 1-2 on two sharded processes (checkpoint at step 2 written as two shards) ...
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "two")), nprocs=2, join=True)
    two = json.loads((tmp_path / "two" / "losses.json").read_text())
    torch.testing.assert_close(torch.tensor(two), torch.tensor(single.losses[:HALF]), rtol=1e-5, atol=1e-6)
    run = tmp_path / "two" / "run"
    assert len(list((run / "checkpoints" / f"step_{HALF:06d}").glob("*.distcp"))) == 2
    assert (run / "export" / "transformer" / "model.safetensors").exists()  # rank 0 exported under world 2
    # ... then steps 3-4 resumed on one process: same losses, and the same EMA (the export) at the end.
    rest = train(_recipe(), run, max_steps=STEPS, resume=True)
    torch.testing.assert_close(
        torch.tensor(rest.losses), torch.tensor(single.losses[HALF:]), rtol=1e-5, atol=1e-6
    )
    a, b = _weights(tmp_path / "one"), _weights(run)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].shape == b[k].shape, k  # whole tensors, not one rank's shard
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5)


def _cli(*args: str, nproc: int = 1, timeout: float = 240) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=f"{root / 'src'}:{root / 'tests'}", OMP_NUM_THREADS="1")
    cli = shutil.which("vitascope") or str(Path(sys.executable).with_name("vitascope"))
    if nproc > 1:
        torchrun = str(Path(sys.executable).with_name("torchrun"))
        cmd = [torchrun, "--standalone", f"--nproc_per_node={nproc}", cli, *args]
    else:
        cmd = [cli, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(900)
def test_torchrun_cli_then_one_process_resumes_and_exports_a_loadable_model(tmp_path):
    run = tmp_path / "R"
    first = _cli(
        "train", "--recipe", "tiny", "--out", str(run), "--max-steps", "4", "--device", "cpu", nproc=2
    )
    assert first.returncode == 0, first.stderr[-3000:]
    ckpt = run / "checkpoints" / "step_000004"
    assert len(list(ckpt.glob("*.distcp"))) == 2 and (run / "model" / "vitascope.json").exists()
    second = _cli("train", "--recipe", "tiny", "--out", str(run), "--max-steps", "6", "--device", "cpu")
    assert second.returncode == 0, second.stderr[-3000:]
    assert (run / "checkpoints" / "latest").read_text().strip() == "step_000006"
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]  # resumed at 5, not restarted
    meta = json.loads((run / "model" / "vitascope.json").read_text())
    assert meta["trained_steps"] == 6
    video = tmp_path / "v.mp4"
    gen = _cli("generate", "--model", str(run / "model"), "--prompt", "a red circle", "--output", str(video))
    assert gen.returncode == 0, gen.stderr[-3000:]
    import av

    with av.open(str(video)) as f:
        assert sum(1 for _ in f.decode(video=0)) == 5  # the tiny model folder's default length
