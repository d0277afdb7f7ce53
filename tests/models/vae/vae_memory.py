"""Peak bytes of live tensors, tracked op by op (not a test module; imported by test_vae_streaming.py).

CPU allocators give no peak statistics, and process RSS on CPU is dominated by conv3d's per-op im2col
workspace, which hides what an algorithm keeps alive. So we count every tensor storage an op creates from
its creation until Python drops the last reference to it, and report the maximum of the running total.
Kernel-internal workspaces are not counted; they are per-op and scale with that op's own output.
"""

from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LiveTensorPeak(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.current = 0
        self.peak = 0
        self._seen: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self._track(t.untyped_storage())
        return out

    def _track(self, storage) -> None:
        key = id(storage)
        if key in self._seen:  # a view or an in-place result: already counted
            return
        self._seen.add(key)
        self.current += storage.nbytes()
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._release, key, storage.nbytes())

    def _release(self, key: int, nbytes: int) -> None:
        self._seen.discard(key)
        self.current -= nbytes


def peak_bytes(fn) -> int:
    """Run fn() and return the peak bytes of tensors alive at once among those created while it ran."""
    with LiveTensorPeak() as mode:
        fn()
    return mode.peak
