"""CFG in parallel: the two guidance branches of a step run on two halves of the ranks at the same time.

    groups = parallel_groups(world, rank, cfg=True)     # every rank calls it, in the same order
    cfg = CFGParallel(groups)                            # then, per sampling run:
    predict = cfg.wrap(predict, policy)                  # outermost, around windows and step caches

With world = 2 x sp, ranks 0 .. sp-1 run the first branch of each step (cond) and ranks sp .. 2sp-1 the
second (negative, or the avatar's no_audio), each half sequence parallel over its own sp ranks when sp > 1.
After the call, the two velocities are exchanged within each pair of ranks (r, r + sp) by one all-gather,
so every rank holds both and takes the same Euler step: the result is the one-process result. A step whose
policy uses one branch (CFG 1, or a guidance scale of 1 at that step) runs it on every rank, as before.

The sampler still asks for the branches one after the other: the first request runs this rank's branch and
exchanges, and the second is answered from what was received.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vitascope.errors import InvalidOptionError
from vitascope.flow.sampler import GuidancePolicy, Predict, StepInfo


@dataclass(frozen=True)
class ParallelGroups:
    """The process groups of one rank: which branch half it is in, and its sequence-parallel group."""

    cfg_rank: int  # 0: the cond half, 1: the uncond half (0 when CFG parallel is off)
    cfg_group: object | None  # this rank and its partner in the other half (None when off)
    sp_group: object | None  # the ranks of this half (None: the whole world)
    sp_size: int


def parallel_groups(world: int, rank: int, cfg: bool) -> ParallelGroups:
    """Split the default group. Collective: every rank calls this with the same world and cfg."""
    if not cfg:
        return ParallelGroups(0, None, None, world)
    if world % 2:
        raise InvalidOptionError(f"--cfg-parallel needs an even number of processes (2 x sp), got {world}")
    import torch.distributed as dist

    sp = world // 2
    halves = [dist.new_group(list(range(h * sp, (h + 1) * sp))) for h in (0, 1)]
    pairs = [dist.new_group([r, r + sp]) for r in range(sp)]  # every rank creates every group
    return ParallelGroups(rank // sp, pairs[rank % sp], halves[rank // sp], sp)


class CFGParallel:
    def __init__(self, groups: ParallelGroups):
        if groups.cfg_group is None:
            raise ValueError("CFGParallel needs groups made with cfg=True")
        self.groups = groups
        self.exchanges = 0  # steps whose branches ran in parallel (a check for tests)

    def wrap(self, predict: Predict, policy: GuidancePolicy) -> Predict:
        import torch.distributed as dist

        held: dict = {}  # (step index, branch) -> the velocity received from the partner

        def run(x: torch.Tensor, t: torch.Tensor, branch: str, step: StepInfo) -> torch.Tensor:
            key = (step.index, branch)
            if key in held:
                return held.pop(key)
            g = policy(step)
            if not g.uses_uncond or branch not in g.branches:
                return predict(x, t, branch, step)
            mine = predict(x, t, g.branches[self.groups.cfg_rank], step)
            parts = [torch.empty_like(mine) for _ in range(2)]
            dist.all_gather(parts, mine.contiguous(), group=self.groups.cfg_group)
            self.exchanges += 1
            held.clear()
            got = dict(zip(g.branches, parts, strict=True))
            for b, v in got.items():
                if b != branch:
                    held[(step.index, b)] = v
            return got[branch]

        return run


__all__ = ["CFGParallel", "ParallelGroups", "parallel_groups"]
