"""CPU offload of a built model, from outside: block level (with prefetch) and model level (one resident).

    offload_blocks(dit, "cuda")          # blocks live on the CPU; each is brought in just before it runs,
                                         # the next one is prefetched, and each is dropped after it ran
    group = ModelOffload("cuda")         # model level: of the members, only the one in use sits on the device
    group.add(text_encoder, "encode"); group.add(dit, "run"); group.add(vae, "decode", "encode")

Block level keeps, per block, one CPU copy of its parameters and buffers (pinned on CUDA machines) and swaps
each tensor's `.data` between that copy and a device copy; a dropped block holds empty tensors, so at most two
blocks (the running one and the prefetched one) hold device memory. The prefetch is a copy on a side CUDA
stream; on CPU (tests) the same steps run without streams and `resident_peak` shows the bound held.
Not measured on a GPU here.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger(__name__)

BLOCK_LISTS = ("double_blocks", "single_blocks")


class BlockOffload:
    def __init__(self, model: nn.Module, device, prefetch: bool = True, lists=BLOCK_LISTS):
        self.device = torch.device(device)
        self.prefetch = prefetch
        self.blocks: list[nn.Module] = [b for name in lists for b in getattr(model, name, [])]
        cuda = self.device.type == "cuda"
        self.stream = torch.cuda.Stream(self.device) if cuda else None
        self._cpu: list[list[tuple[torch.Tensor, torch.Tensor]]] = []
        for block in self.blocks:
            tensors = [*block.parameters(), *block.buffers()]
            copies = []
            for t in tensors:
                host = t.data.to("cpu")
                copies.append((t, host.pin_memory() if cuda else host))
            self._cpu.append(copies)
            self._drop(len(self._cpu) - 1)
        self._events: dict[int, object] = {}
        self.resident: set[int] = set()
        self.resident_peak = 0
        self.loads = 0
        self._handles = []
        for i, block in enumerate(self.blocks):
            self._handles.append(block.register_forward_pre_hook(lambda m, a, i=i: self._before(i)))
            self._handles.append(block.register_forward_hook(lambda m, a, o, i=i: self._after(i)))
        log.info("block offload: %d blocks kept on the CPU, computed on %s", len(self.blocks), self.device)

    def _load(self, i: int) -> None:
        if i in self.resident:
            return
        ctx = torch.cuda.stream(self.stream) if self.stream is not None else _null()
        with ctx:
            for t, host in self._cpu[i]:
                t.data = host.to(self.device, non_blocking=True)
            if self.stream is not None:
                ev = torch.cuda.Event()
                ev.record(self.stream)
                self._events[i] = ev
        self.resident.add(i)
        self.loads += 1
        self.resident_peak = max(self.resident_peak, len(self.resident))

    def _drop(self, i: int) -> None:
        for t, host in self._cpu[i]:
            t.data = torch.empty(0, dtype=host.dtype, device=self.device)
        if hasattr(self, "resident"):
            self.resident.discard(i)

    def _before(self, i: int) -> None:
        self._load(i)
        ev = self._events.pop(i, None)
        if ev is not None:
            main = torch.cuda.current_stream(self.device)
            main.wait_event(ev)
            for t, _ in self._cpu[i]:
                t.data.record_stream(main)  # made on the side stream, used and freed on the main one
        if self.prefetch and i + 1 < len(self.blocks):
            self._load(i + 1)

    def _after(self, i: int) -> None:
        self._drop(i)

    def remove(self) -> None:
        """Put every block back on the device for good and drop the hooks."""
        for h in self._handles:
            h.remove()
        for copies in self._cpu:
            for t, host in copies:
                t.data = host.to(self.device)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def offload_blocks(model: nn.Module, device, prefetch: bool = True) -> BlockOffload:
    """Block-level offload of a DiT's double and single blocks; the rest of the model moves to `device`."""
    for name, child in model.named_children():
        if name not in BLOCK_LISTS:
            child.to(device)
    for p in model.parameters(recurse=False):
        p.data = p.data.to(device)
    return BlockOffload(model, device, prefetch)


class ModelOffload:
    """Of the member modules, only the one in use holds device memory; the others wait in CPU copies.

    Like the blocks, a member's tensors swap `.data` between a CPU copy and a device copy; an evicted member
    holds empty tensors (so on a CPU-only machine the mechanics are visible too).
    """

    def __init__(self, device):
        self.device = torch.device(device)
        self.members: list[nn.Module] = []
        self._cpu: dict[int, list] = {}
        self.current: nn.Module | None = None
        self.moves = 0

    def add(self, module: nn.Module, *methods: str) -> nn.Module:
        """Wrap `methods` of `module` (instance attributes) so that calling one brings the module in."""
        self._cpu[id(module)] = [(t, t.data.to("cpu")) for t in (*module.parameters(), *module.buffers())]
        self._evict(module)
        self.members.append(module)
        for name in methods or ("forward",):
            original = getattr(module, name)

            def wrapped(*args, _orig=original, _mod=module, **kwargs):
                self.activate(_mod)
                return _orig(*args, **kwargs)

            setattr(module, name, wrapped)
        return module

    def _evict(self, module: nn.Module) -> None:
        for t, host in self._cpu[id(module)]:
            t.data = torch.empty(0, dtype=host.dtype, device=self.device)

    def activate(self, module: nn.Module) -> None:
        if self.current is module:
            return
        if self.current is not None:
            self._evict(self.current)
        for t, host in self._cpu[id(module)]:
            t.data = host.to(self.device)
        self.current = module
        self.moves += 1


__all__ = ["BlockOffload", "ModelOffload", "offload_blocks"]
