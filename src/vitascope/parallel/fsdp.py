"""FSDP2 (`fully_shard`) applied to a built model from outside: each transformer block is its own unit,
then the root. Runs on CUDA with NCCL and on CPU with gloo (tests use 2 CPU processes)."""

from __future__ import annotations

import logging

from torch import nn

log = logging.getLogger(__name__)

# Children that hold the repeated blocks of our models (DiT) and of the VAE's encoder/decoder.
BLOCK_LISTS = ("double_blocks", "single_blocks", "down_blocks", "up_blocks")


def shard_model(model: nn.Module, mesh=None, reshard_after_forward: bool = True) -> nn.Module:
    """Shard `model` in place over `mesh` (default: all ranks of the default process group).

    Needs torch.distributed initialised (torchrun sets the environment; the CLI calls init_process_group).
    Parameters become DTensors; the optimizer must be built after this call.
    """
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    if not dist.is_initialized():
        raise RuntimeError("shard_model needs torch.distributed initialised (run under torchrun)")
    if mesh is None:
        device = "cuda" if torch.cuda.is_available() and dist.get_backend() == "nccl" else "cpu"
        mesh = init_device_mesh(device, (dist.get_world_size(),))
    units = 0
    for name in BLOCK_LISTS:
        for parent in model.modules():
            blocks = getattr(parent, name, None)
            if isinstance(blocks, nn.ModuleList):
                for block in blocks:
                    fully_shard(block, mesh=mesh, reshard_after_forward=reshard_after_forward)
                    units += 1
    fully_shard(model, mesh=mesh, reshard_after_forward=reshard_after_forward)
    log.info("FSDP2: sharded %d blocks + root over %d ranks", units, dist.get_world_size())
    return model


def init_distributed(world_size: int, local_rank: int = 0, backend: str | None = None) -> tuple[int, int]:
    """Initialise the default process group for a launcher's processes (the CLI reads torchrun's WORLD_SIZE
    and LOCAL_RANK; rendezvous comes from torchrun's MASTER_ADDR/PORT through torch's env:// default).
    Returns (rank, world_size); (0, 1) for one process. gloo on CPU, nccl on CUDA unless `backend` says
    otherwise; with nccl the process's GPU becomes the current device."""
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if world_size <= 1:
        return 0, 1
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def close_distributed() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
