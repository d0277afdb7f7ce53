"""One vocabulary for speed and memory, applied to a loaded pipeline from outside.

    apply_speed(pipe, SpeedOptions(offload="block", quantize="fp8", compile=True, attention="sdpa"))

The CLI (`--offload {model,block} --quantize fp8 --compile --cuda-graphs --attention BACKEND`) and the Python API use this;
the step cache (`--cache POLICY[:THRESHOLD]`) is a per-generation option (`GenerationOptions.cache`) because it
changes nothing in the model. Order: attention backend, fp8, compile, offload (offload last, so it moves the
quantized weights). `pipe.speed` records what was applied; the pipeline writes it to the sidecar.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from vitascope.errors import InvalidOptionError

log = logging.getLogger(__name__)

OFFLOAD = (None, "model", "block")
QUANTIZE = (None, "fp8", "fp8-tensor")


@dataclass(frozen=True)
class SpeedOptions:
    offload: str | None = None  # "model": one component on the device at a time; "block": DiT blocks too
    quantize: str | None = None  # "fp8": e4m3 weights per output channel; "fp8-tensor": one scale per tensor
    fp8_matmul: str = "auto"  # auto: fp8 matmuls on GPUs that have them (CUDA 8.9+); on; off: weight-only
    compile: bool = False  # torch.compile of each DiT block (regional)
    # CUDA graphs: the blocks compiled with mode "reduce-overhead" (torch's CUDA graph trees; shapes are static
    # within a generation), replayed each step instead of launching every kernel; implies compile
    cuda_graphs: bool = False
    attention: str | None = None  # a backend of vitascope.nn.attention (sdpa, math, flash, sage)
    memory_budget: float | None = None  # GiB the VAE decode may use (None: free CUDA / available CPU memory)

    def __post_init__(self):
        if self.offload not in OFFLOAD:
            raise InvalidOptionError(f"--offload must be 'model' or 'block', got {self.offload!r}")
        if self.quantize not in QUANTIZE:
            raise InvalidOptionError(f"--quantize must be 'fp8' or 'fp8-tensor', got {self.quantize!r}")
        if self.fp8_matmul not in ("auto", "on", "off"):
            raise InvalidOptionError(f"--fp8-matmul must be auto, on or off, got {self.fp8_matmul!r}")
        if self.cuda_graphs and self.offload == "block":
            raise InvalidOptionError(
                "--cuda-graphs replays kernels on fixed weight addresses, and --offload block moves the "
                "weights every step: use one or the other"
            )
        if self.memory_budget is not None and not self.memory_budget > 0:
            raise InvalidOptionError(
                f"--memory-budget must be a positive number of GiB, got {self.memory_budget}"
            )
        if self.attention is not None:
            from vitascope.nn.attention import get_backend

            get_backend(self.attention)  # unknown or not installed: a clear error now

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def compile_blocks(dit, cuda_graphs: bool = False) -> int:
    """Regional torch.compile: each double and single block compiled on its own (shapes repeat per block).

    With `cuda_graphs` the blocks are compiled in mode "reduce-overhead" (CUDA graph trees), and every DiT
    evaluation (`run_blocks`) begins a new graph step (`torch.compiler.cudagraph_mark_step_begin`), so the outputs a sampler or
    a step cache keeps from one step are not taken for live tensors of the next."""
    import torch

    mode = "reduce-overhead" if cuda_graphs else None
    n = 0
    for blocks in (dit.double_blocks, dit.single_blocks):
        for block in blocks:
            block.compile(dynamic=False, mode=mode)
            n += 1
    if cuda_graphs:
        # every DiT evaluation (run, forward, the avatar's cached path) goes through run_blocks
        inner = dit.run_blocks

        def run_blocks(ctx):
            torch.compiler.cudagraph_mark_step_begin()
            return inner(ctx)

        dit.run_blocks = run_blocks
    log.info("torch.compile: %d DiT blocks%s", n, " with CUDA graphs" if cuda_graphs else "")
    return n


def apply_speed(pipe, speed: SpeedOptions) -> None:
    """Apply `speed` to a loaded pipeline (in place)."""
    dit = pipe.dit
    if speed.attention:
        dit.set_attention(speed.attention)
    if speed.quantize:
        from vitascope.parallel.fp8 import quantize_fp8

        matmul = {"auto": "auto", "on": "scaled", "off": "dequant"}[speed.fp8_matmul]
        quantize_fp8(dit, per_channel=speed.quantize == "fp8", matmul=matmul)
    if speed.cuda_graphs and getattr(pipe.device, "type", str(pipe.device)) != "cuda":
        raise InvalidOptionError(f"--cuda-graphs needs a CUDA device; this pipeline runs on {pipe.device}")
    if speed.compile or speed.cuda_graphs:
        compile_blocks(dit, cuda_graphs=speed.cuda_graphs)
    if speed.offload:
        from vitascope.parallel.offload import ModelOffload, offload_blocks

        group = ModelOffload(pipe.device)
        for enc in (pipe.text_encoder, pipe.clip_encoder, pipe.i2v_text_encoder):
            if enc is not None:
                group.add(enc.model, "forward")
        # every entry point that runs the VAE (the streamed decode iterates windows through iter_decode)
        methods = ("encode", "decode", "iter_decode", "decode_streaming")
        group.add(pipe.vae, *(m for m in methods if hasattr(pipe.vae, m)))
        if speed.offload == "block":
            pipe._block_offload = offload_blocks(dit, pipe.device)  # the DiT's blocks come in one by one
        else:
            group.add(dit, "run", "forward")
        pipe._model_offload = group
    pipe.speed = speed


def describe_plan(pipe, speed: SpeedOptions, activations_bytes: int = 0) -> list[str]:
    """What sits where, and the expected peak on the compute device (parameters + an activation estimate)."""
    comps = {"dit": pipe.dit, "vae": pipe.vae}
    for name in ("text_encoder", "clip_encoder", "i2v_text_encoder"):
        enc = getattr(pipe, name, None)
        if enc is not None:
            comps[name] = enc.model
    sizes = {k: _bytes(m) for k, m in comps.items()}
    if speed.quantize:
        sizes["dit"] = _bytes(pipe.dit, fp8_blocks=True)
    lines = []
    for k, b in sizes.items():
        where = pipe.device if not speed.offload else f"cpu, on {pipe.device} while in use"
        lines.append(f"{k:18s} {b / 2**30:8.2f} GiB  {where}")
    if speed.offload == "block":
        block = max(_bytes(b) for b in (*pipe.dit.double_blocks, *pipe.dit.single_blocks))
        dit_resident = sizes["dit"] - sum(
            _bytes(b) for b in (*pipe.dit.double_blocks, *pipe.dit.single_blocks)
        )
        peak = max(dit_resident + 2 * block, *(v for k, v in sizes.items() if k != "dit"))
    elif speed.offload == "model":
        peak = max(sizes.values())
    else:
        peak = sum(sizes.values())
    lines.append(
        f"expected peak on {pipe.device}: {(peak + activations_bytes) / 2**30:.2f} GiB "
        f"(parameters {peak / 2**30:.2f} + activations ~{activations_bytes / 2**30:.2f})"
    )
    return lines


def _bytes(module, fp8_blocks: bool = False) -> int:
    total = 0
    for name, t in (*module.named_parameters(), *module.named_buffers()):
        n = t.numel() * t.element_size()
        if fp8_blocks and t.ndim == 2 and ("double_blocks" in name or "single_blocks" in name):
            n = t.numel()  # 1 byte per weight after fp8
        total += n
    return total


__all__ = ["SpeedOptions", "apply_speed", "compile_blocks", "describe_plan"]


def start_sequence_parallel(
    pipe, world_size: int, local_rank: int = 0, kind: str = "ulysses", cfg: bool = False
) -> int:
    """With a launcher's world_size > 1 (the CLI reads torchrun's WORLD_SIZE and LOCAL_RANK): join the process
    group and shard the DiT's sequence over it (kind: "ulysses" or "ring"). With `cfg`, the world splits in
    two halves that run the two guidance branches at once (`parallel.cfg`), each sequence parallel over its
    own world_size / 2 ranks when that is more than one.

    Returns this process's rank (0 for one process). Every rank runs the whole pipeline on the same inputs;
    only rank 0 should write the output.
    """
    from vitascope.parallel.fsdp import init_distributed

    rank, world = init_distributed(world_size, local_rank)
    pipe.cfg_parallel = None
    if world > 1:
        from vitascope.parallel.cfg import CFGParallel, parallel_groups

        groups = parallel_groups(world, rank, cfg)
        if cfg:
            pipe.cfg_parallel = CFGParallel(groups)
            log.info("CFG parallel: the guidance branches on two halves of %d ranks", world)
        if groups.sp_size > 1:
            from vitascope.parallel.sequence import SequenceParallel

            SequenceParallel(groups.sp_group, kind=kind).install(pipe.dit)
            log.info("sequence parallel over %d ranks (%s; this is rank %d)", groups.sp_size, kind, rank)
    return rank


def shared_seed(seed: int) -> int:
    """Rank 0's seed on every rank (a random seed is drawn per process otherwise)."""
    import torch.distributed as dist

    if not dist.is_initialized():
        return seed
    box = [seed]
    dist.broadcast_object_list(box, src=0)
    return int(box[0])
