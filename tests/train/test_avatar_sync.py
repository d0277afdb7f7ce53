"""The lip-sync read-out of the avatar task: it recovers an opening that the latents encode at the mouths, does
not read anything outside them, and its loss is zero for a perfect estimate and pulls a wrong one back."""

from __future__ import annotations

import torch

from vitascope.train.avatar_sync import fit_probe, mouth_features, sync_error


def _pool(n: int, seed: int) -> list[dict]:
    """Latents [4, 5, 8, 8] whose mouth (a box that moves between clips) gets darker as it opens."""
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n):
        z = torch.randn(4, 5, 8, 8, generator=g) * 0.3
        y0, x0 = (int(v) for v in torch.randint(0, 5, (2,), generator=g))
        mouth = torch.zeros(1, 5, 8, 8)
        mouth[:, :, y0 : y0 + 3, x0 : x0 + 3] = 1.0
        opening = torch.rand(5, generator=g)
        z[0] -= 2.0 * opening[:, None, None] * mouth[0]  # channel 0 carries the opening inside the mouth
        z[1] += 5.0 * (1 - mouth[0]) * torch.rand(5, 1, 1, generator=g)  # noise outside the mouth
        items.append({"latents": z, "mouth": mouth, "open": opening})
    return items


def test_the_read_out_recovers_the_opening_on_new_clips():
    probe = fit_probe(_pool(40, 0))
    assert probe.corr > 0.95
    test = _pool(10, 1)
    z = torch.stack([it["latents"] for it in test])
    mouth = torch.stack([it["mouth"] for it in test])
    truth = torch.stack([it["open"] for it in test])
    pred = probe(z, mouth)
    assert pred.shape == (10, 5)
    assert torch.corrcoef(torch.stack([pred.flatten(), truth.flatten()]))[0, 1] > 0.9


def test_features_ignore_what_lies_outside_the_mouth():
    it = _pool(1, 2)[0]
    z, mouth = it["latents"][None], it["mouth"][None]
    moved = z + 10.0 * (1 - mouth)
    assert torch.allclose(mouth_features(z, mouth), mouth_features(moved, mouth), atol=1e-5)


def test_sync_error_is_zero_for_the_clip_and_its_gradient_opens_the_mouth():
    probe = fit_probe(_pool(40, 0))
    it = _pool(1, 3)[0]
    x0, mouth = it["latents"][None], it["mouth"][None]
    assert float(sync_error(probe, x0, x0, mouth)) < 1e-10
    closed = x0.clone()
    closed[:, 0] += 2.0 * it["open"][None, :, None, None] * mouth[:, 0]  # every mouth shut
    est = closed.clone().requires_grad_(True)
    err = sync_error(probe, est, x0, mouth)
    assert float(err.detach()) > 0.01
    err.backward()
    # descending the gradient darkens channel 0 inside the mouth (opens it again)
    assert float((est.grad[:, 0] * mouth[:, 0]).sum()) > 0
    with torch.no_grad():
        assert float(sync_error(probe, est - 0.5 * est.grad / est.grad.norm(), x0, mouth)) < float(err)
