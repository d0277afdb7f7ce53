"""Ring attention: the key/value blocks of the image tokens travel around the ranks, merged by log-sum-exp.

Every rank holds the queries, keys and values of its own slice of the image tokens (all heads) and of the
replicated text. Attention of the local queries over the whole sequence is computed block by block: first the
text keys (every rank has them), then the rank's own image block, then P - 1 blocks received from the previous
rank while the current one is sent on to the next (the send overlaps the block's attention). Each block's
partial result comes from the registry backend's log-sum-exp form (`nn.attention.get_lse_backend`) and is
merged exactly, in float32:

    lse = logaddexp(lse_a, lse_b);   out = exp(lse_a - lse) * out_a + exp(lse_b - lse) * out_b

Unlike Ulysses, no head count has to divide by the world size, and no rank ever holds the full sequence;
the price is P - 1 point-to-point exchanges of one K/V block per attention call instead of two all-to-alls.
"""

from __future__ import annotations

import torch


def merge(acc, part):
    """Merge two partial attentions over disjoint key sets: (out [B, L, N, K] float32, lse [B, N, L])."""
    if acc is None:
        return part[0].float(), part[1]
    (out_a, lse_a), (out_b, lse_b) = acc, part
    lse = torch.logaddexp(lse_a, lse_b)  # [B, N, L]
    # a query that sees no key in either part keeps lse -inf; its weights become 0, not NaN
    wa = (lse_a - lse).exp().nan_to_num().transpose(1, 2)[..., None]  # [B, L, N, 1]
    wb = (lse_b - lse).exp().nan_to_num().transpose(1, 2)[..., None]
    return wa * out_a + wb * out_b.float(), lse


class Ring:
    """The point-to-point exchange of one K/V block: send to rank + 1, receive from rank - 1 (in the group)."""

    def __init__(self, group, rank: int, world: int):
        import torch.distributed as dist

        self.dist, self.group, self.rank, self.world = dist, group, rank, world
        glob = (lambda r: r) if group is None else (lambda r: dist.get_global_rank(group, r))
        self.next, self.prev = glob((rank + 1) % world), glob((rank - 1) % world)

    def start(self, kv: torch.Tensor):
        """Begin passing `kv` on; returns (the buffer being received, the pending requests)."""
        recv = torch.empty_like(kv)
        ops = [
            self.dist.P2POp(self.dist.isend, kv, self.next, self.group),
            self.dist.P2POp(self.dist.irecv, recv, self.prev, self.group),
        ]
        return recv, self.dist.batch_isend_irecv(ops)


def ring_attention(lse_backend, ring: Ring, q, k, v, mask, n: int, total: int):
    """q, k, v [B, n + S, N, K]: this rank's n image tokens (padded slice) then the S text tokens.
    mask: None or a key mask [B, 1, 1, n + S] over the local keys (its text columns are used).
    total: real image tokens over all ranks (the last slices may end in padding). -> [B, n + S, N, K]."""
    P, me = ring.world, ring.rank
    txt_mask = None if mask is None else mask[..., n:]
    acc = merge(None, lse_backend(q, k[:, n:], v[:, n:], txt_mask))  # the replicated text keys
    kv = torch.stack([k[:, :n], v[:, :n]]).contiguous()  # [2, B, n, N, K]
    for step in range(P):
        pending = ring.start(kv) if step < P - 1 else None
        src = (me - step) % P  # whose image block this is
        valid = min(max(total - src * n, 0), n)
        if valid:  # a block that is all padding contributes nothing
            key_mask = None
            if valid < n:
                key_mask = (torch.arange(n, device=q.device) < valid)[None, None, None, :]
            acc = merge(acc, lse_backend(q, kv[0], kv[1], key_mask))
        if pending is not None:
            recv, reqs = pending
            for r in reqs:
                r.wait()
            kv = recv
    return acc[0].to(q.dtype)


__all__ = ["Ring", "merge", "ring_attention"]
