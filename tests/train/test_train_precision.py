"""Smoke tests, tiny and fast, for each claimed training feature: bf16 and fp16 autocast (fp16 with a gradient
scaler that survives a resume), activation checkpointing, the adversarial VAE term with resume, LPIPS."""

from __future__ import annotations

import json
import logging

import torch

from vitascope.models.vae import VAEConfig
from vitascope.train.buckets import Bucket
from vitascope.train.loop import train
from vitascope.train.recipes import Recipe, Stage, get_recipe

ONE = (Stage("one", 4, (Bucket(5, 32, 32, 2),)),)


def _tiny(**kw):
    return get_recipe("tiny")[0].replace(stages=ONE, checkpoint_every=2, **kw)


def _rows(run):
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_bf16_tracks_fp32(tmp_path):
    fp32 = train(_tiny(), tmp_path / "a", max_steps=2, resume=False, export=False).losses
    bf16 = train(_tiny(precision="bf16"), tmp_path / "b", max_steps=2, resume=False, export=False).losses
    assert bf16 != fp32  # autocast really ran in bf16
    torch.testing.assert_close(torch.tensor(bf16), torch.tensor(fp32), rtol=0.05, atol=0.02)


def test_fp16_uses_a_gradient_scaler_that_resumes(tmp_path):
    r = _tiny(precision="fp16")
    straight = train(r, tmp_path / "a", max_steps=4, resume=False, export=False)
    assert all(torch.isfinite(torch.tensor(straight.losses)))
    scales = [row["grad_scale"] for row in _rows(tmp_path / "a")]
    assert len(scales) == 4 and scales[0] > 1.0  # loss scaling is on
    train(r, tmp_path / "b", max_steps=2, resume=False, export=False)
    resumed = train(r, tmp_path / "b", max_steps=4, resume=True, export=False)
    assert resumed.losses == straight.losses[2:]
    assert [row["grad_scale"] for row in _rows(tmp_path / "b")] == scales  # the scaler state came back


def test_activation_checkpointing_gives_the_same_run(tmp_path):
    plain = train(_tiny(), tmp_path / "a", max_steps=2, resume=False, export=False).losses
    ckpt = train(
        _tiny(activation_checkpointing=True), tmp_path / "b", max_steps=2, resume=False, export=False
    )
    torch.testing.assert_close(torch.tensor(ckpt.losses), torch.tensor(plain), rtol=1e-5, atol=1e-6)


def _adv_vae(**kw) -> Recipe:
    return Recipe(
        name="adv-vae",
        kind="vae",
        vae=VAEConfig.tiny(),
        stages=(Stage("s", 4, (Bucket(5, 16, 16, 2), Bucket(1, 16, 16, 2))),),
        adv_weight=0.05,
        lpips_weight=0.0,
        frame_interval=(1, 2),
        checkpoint_every=2,
        log_every=1,
        **kw,
    )


def test_adversarial_vae_term_runs_and_resumes_exactly(tmp_path):
    straight = train(_adv_vae(), tmp_path / "a", max_steps=4, resume=False, export=False)
    rows = _rows(tmp_path / "a")
    assert all("adv" in r and "d_loss" in r for r in rows)
    train(_adv_vae(), tmp_path / "b", max_steps=2, resume=False, export=False)
    resumed = train(_adv_vae(), tmp_path / "b", max_steps=4, resume=True, export=False)
    # the discriminator and its optimizer came back with the VAE: the next losses are the same
    assert resumed.losses == straight.losses[2:]
    assert [r["d_loss"] for r in _rows(tmp_path / "b")] == [r["d_loss"] for r in rows]


def test_lpips_is_skipped_with_a_logged_reason_when_absent(caplog):
    from vitascope.train.loss import load_lpips

    with caplog.at_level(logging.INFO, logger="vitascope.train.loss"):
        model = load_lpips()
    if model is None:
        assert "without the perceptual term" in caplog.text
    else:  # weights are local on this machine: the real network loads
        assert not any(p.requires_grad for p in model.parameters())


def test_lpips_term_is_weighted_into_the_vae_loss():
    from vitascope.models.vae import CausalVAE3D
    from vitascope.train.loss import vae_reconstruction_loss

    torch.manual_seed(0)
    vae = CausalVAE3D(VAEConfig.tiny())
    video = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    noise = torch.zeros(2, 16, 2, 2, 2)

    class Perceptual(torch.nn.Module):  # the interface of lpips.LPIPS: (x, y) [N, 3, H, W] -> [N, 1, 1, 1]
        def __init__(self):
            super().__init__()
            self.features = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x, y):
            return (self.features(x) - self.features(y)).pow(2).mean(dim=(1, 2, 3), keepdim=True)

    base, recon, _ = vae_reconstruction_loss(vae, video, 1e-6, noise)
    with_lp, _, parts = vae_reconstruction_loss(vae, video, 1e-6, noise, Perceptual().eval(), 0.1)
    assert "lpips" in parts and parts["lpips"] > 0
    torch.testing.assert_close((with_lp - base).mean(), 0.1 * parts["lpips"])
