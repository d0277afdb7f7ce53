"""The pieces added for the demo model's second CPU round: VAE clips at the generator's speed, the
foreground-weighted reconstruction loss, and the language prior of the tiny text encoders."""

from __future__ import annotations

import numpy as np
import torch

from vitascope.data.synthetic import vae_clip_frames, vae_clip_weight, world_scene
from vitascope.models.vae import CausalVAE3D
from vitascope.models.vae.config import VAEConfig
from vitascope.synthetic.analyze import analyze
from vitascope.train.loss import vae_reconstruction_loss
from vitascope.train.recipes import demo, demo_vae_refine


def _moving_seed(frames: int) -> int:
    """A seed whose world clip is one object on black moving left or right."""
    for seed in range(200):
        spec = world_scene(seed, frames, 64, 64, 1.0)
        if spec.objects[0].motion in ("moving left", "moving right"):
            return seed
    raise AssertionError("no horizontally moving clip in 200 seeds")


def _x_track(frames: np.ndarray) -> np.ndarray:
    """Centroid x of the bright pixels of each frame [T]."""
    bright = frames.max(axis=-1) > 100  # [T, H, W]
    xs = np.arange(frames.shape[2])[None, None, :]
    return (bright * xs).sum(axis=(1, 2)) / bright.sum(axis=(1, 2))


def test_scene_frames_windows_move_at_the_speed_of_that_clip():
    seed = _moving_seed(17)
    full = vae_clip_frames(seed, 17, 64, 64, (1, 1), 1.0, scene_frames=17)
    window = vae_clip_frames(seed, 5, 64, 64, (1, 1), 1.0, scene_frames=17)
    per_frame_full = np.abs(np.diff(_x_track(full))).mean()
    per_frame_window = np.abs(np.diff(_x_track(window))).mean()
    # A 5-frame window of the 17-frame scene moves ~1.7 px a frame, like the generator's clips; the old
    # default (a 9-frame scene for a 5-frame clip at stride <= 2) moves twice as fast.
    assert abs(per_frame_window - per_frame_full) < 0.35, (per_frame_window, per_frame_full)
    default = vae_clip_frames(seed, 5, 64, 64, (1, 1), 1.0)
    assert np.abs(np.diff(_x_track(default))).mean() > 1.6 * per_frame_full


def test_foreground_weight_marks_exactly_the_objects_pixels():
    args = (_moving_seed(9), 9, 64, 64, (1, 2), 1.0, 17)
    frames = vae_clip_frames(*args)
    weight = vae_clip_weight(args, fg_weight=10.0)
    assert weight.shape == (1, 9, 64, 64)
    assert float(weight.min()) == 1.0 and float(weight.max()) == 11.0
    inside = weight[0].numpy() > 10.5  # fully covered pixels
    outside = weight[0].numpy() == 1.0
    # On black, covered pixels are the object's colour and uncovered ones are black.
    assert frames[inside].max(axis=-1).min() > 150
    assert frames[outside].max() == 0
    assert analyze(frames, background="black").objects  # the clip is a normal world clip


def test_weighted_reconstruction_loss():
    torch.manual_seed(0)
    vae = CausalVAE3D(VAEConfig.tiny())
    video = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    noise = torch.zeros(2, vae.config.latent_channels, 2, 2, 2)
    plain, recon, _ = vae_reconstruction_loss(vae, video, 0.0, noise, mse_weight=1.0, l1_weight=0.0)
    ones, _, _ = vae_reconstruction_loss(
        vae, video, 0.0, noise, mse_weight=1.0, l1_weight=0.0, weight=torch.ones(2, 1, 5, 16, 16)
    )
    torch.testing.assert_close(plain, ones)
    w = torch.ones(2, 1, 5, 16, 16)
    w[:, :, :, :8] = 3.0
    weighted, _, _ = vae_reconstruction_loss(vae, video, 0.0, noise, mse_weight=1.0, l1_weight=0.0, weight=w)
    err = (recon - video).pow(2)
    expect = (err * w).flatten(1).mean(dim=1)
    torch.testing.assert_close(weighted, expect)


def test_demo_recipe_order_and_refine_settings():
    names = [r.name for r in demo()]
    assert names == ["demo-vae", "demo-vae-dec", "demo-vae-ft", "demo-vae-palette", "demo-dit", "demo-dit-ft"]
    assert demo()[-1].dit_options.final_vae == "demo-vae-palette"  # the model folder's VAE
    ft = demo_vae_refine()
    assert ft.vae_options.init_from == "demo-vae-dec" and not ft.vae_options.freeze_encoder
    assert demo()[-1].vae_from == "demo-vae-ft"  # the DiT learns on the refined encoder's latents
    # the palette VAE starts from, and is anchored to, the encoder the DiT was trained on
    from vitascope.train.recipes import get_recipe

    (pal,) = get_recipe("demo-vae-palette")
    opts = pal.vae_options
    assert opts.init_from == "demo-vae-ft" and opts.anchor_weight > 0 and 0 < opts.hue_fraction < 1
    assert 0 < opts.chart_fraction < 1  # dense colour: charts as well as recoloured world clips


def test_shorter_travels_let_moving_objects_start_in_the_middle():
    from vitascope.synthetic.render import render
    from vitascope.synthetic.world import TRAVEL, sample_scene

    def middle_starts(travel_range):
        n = 0
        for seed in range(300):
            spec = sample_scene(seed, 17, 64, 64, n_objects=1, background="black", camera="static",
                                motion="moving right", travel_range=travel_range)  # fmt: skip
            n += abs(spec.objects[0].start_xy[0] - 0.5) < 0.03
        return n

    assert middle_starts(None) == 0  # at the full distance a rightward object must start in the left half
    assert middle_starts((0.5, 1.0)) >= 10
    # The default world is untouched (same draws, same travel); the analyzer reads short travels right.
    spec = sample_scene(5, 17, 64, 64)
    assert all(o.travel == TRAVEL for o in spec.objects)
    right = 0
    for seed in range(20):
        spec = sample_scene(seed, 17, 64, 64, n_objects=1, background="black", camera="static",
                            travel_range=(0.5, 0.5))  # fmt: skip
        got = analyze(render(spec), background="black").objects[0]
        right += got["motion"] == spec.objects[0].motion
    assert right >= 19


def test_demo_dit_refine_continues_demo_dit_with_its_encoders():
    from vitascope.train.recipes import demo_dit, demo_dit_refine

    ft = demo_dit_refine()
    assert ft.dit_options.init_from == "demo-dit" and ft.text_from == "demo-dit"
    assert ft.dit_options.travel_range == (0.5, 1.0) and ft.dit_options.text_prior_steps == 0
    assert ft.export_options == demo_dit().export_options  # the same model name, recorded recipe and defaults


def test_latent_anchor_term():
    torch.manual_seed(0)
    vae = CausalVAE3D(VAEConfig.tiny())
    video = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    noise = torch.zeros(2, vae.config.latent_channels, 2, 2, 2)
    mean = vae.encode_moments(video)[0].detach()
    kw = dict(mse_weight=1.0, l1_weight=0.0)
    base, _, _ = vae_reconstruction_loss(vae, video, 0.0, noise, **kw)
    # anchored to its own mean: no drift, and the reference latents decode to the same reconstruction, so
    # the decoder-side term repeats the reconstruction error
    same, _, parts = vae_reconstruction_loss(
        vae, video, 0.0, noise, anchor=(mean, torch.tensor([5.0, 5.0])), **kw
    )
    torch.testing.assert_close(same, 2 * base)
    assert float(parts["anchor"]) == 0.0
    # a shifted target costs weight * squared shift plus the error of decoding it, only where weighted
    moved, _, parts = vae_reconstruction_loss(
        vae, video, 0.0, noise, anchor=(mean + 0.1, torch.tensor([5.0, 0.0])), **kw
    )
    with torch.no_grad():
        ref_err = (vae.decode(mean + 0.1) - video).pow(2).flatten(1).mean(dim=1)
    torch.testing.assert_close(moved - base, torch.stack([5.0 * 0.01 + ref_err[0], torch.tensor(0.0)]))
    assert abs(float(parts["anchor"]) - 0.01) < 1e-6
    torch.testing.assert_close(parts["anchor_recon"], ref_err[0])


def test_palette_vae_task_recolours_and_anchors(tmp_path):
    from vitascope.models.vae import save_vae
    from vitascope.train.buckets import Bucket
    from vitascope.train.loop import train
    from vitascope.train.options import VAEOptions
    from vitascope.train.recipes import Stage, vae_recipe

    torch.manual_seed(1)
    save_vae(CausalVAE3D(VAEConfig.tiny()), tmp_path / "ref" / "vae")
    r = vae_recipe().replace(
        vae=VAEConfig.tiny(),
        stages=(Stage("s", 2, (Bucket(5, 32, 32, 4),)),),
        vae_options=VAEOptions(
            sample_posterior=False, mse_weight=1.0, l1_weight=0.0, init_from=str(tmp_path / "ref" / "vae"),
            hue_fraction=0.5, anchor_weight=10.0,
        ),  # fmt: skip
        log_every=1,
        ema_decay=0.0,
    )
    train(r, tmp_path / "run", run_root=tmp_path)
    import json

    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["anchor"] == 0.0  # the first step starts from the reference itself
    assert rows[1]["anchor"] > 0.0  # one update later the encoder has moved and pays for it
    from vitascope.train.vae_task import VAETask

    task = VAETask(r, tmp_path / "t", tmp_path)
    recoloured = [task.hue_rng(0, 0, g) is not None for g in range(32)]
    assert 6 <= sum(recoloured) <= 26  # about half
    g = recoloured.index(True)
    b = Bucket(5, 32, 32, 4)
    plain = task._frames(0, 0, g, b)
    from vitascope.data.synthetic import to_model_range

    assert not torch.equal(task.clip(0, 0, g, b), to_model_range(plain))
    keep = recoloured.index(False)
    assert torch.equal(task.clip(0, 0, keep, b), to_model_range(task._frames(0, 0, keep, b)))


def test_palette_vae_task_mixes_charts_and_anchors_only_the_world_palette(tmp_path):
    from vitascope.models.vae import save_vae
    from vitascope.train.buckets import Bucket
    from vitascope.train.options import VAEOptions
    from vitascope.train.recipes import Stage, vae_recipe
    from vitascope.train.vae_task import CHART_WEIGHT, VAETask

    save_vae(CausalVAE3D(VAEConfig.tiny()), tmp_path / "ref" / "vae")
    opts = VAEOptions(
        sample_posterior=False, mse_weight=1.0, l1_weight=0.0, init_from=str(tmp_path / "ref" / "vae"),
        fg_weight=10.0, chart_fraction=0.4, hue_fraction=0.5, anchor_weight=10.0,
    )  # fmt: skip
    r = vae_recipe().replace(vae=VAEConfig.tiny(), stages=(Stage("s", 2, (Bucket(5, 32, 32, 4),)),), vae_options=opts)
    task = VAETask(r, tmp_path / "t", tmp_path)
    b = Bucket(5, 32, 32, 4)
    charts = [task.is_chart(0, 0, g) for g in range(50)]
    assert 8 <= sum(charts) <= 32  # about 40%
    g = charts.index(True)
    from vitascope.synthetic.colour_chart import chart_clip

    clip = task.clip(0, 0, g, b)
    assert clip.shape == (3, 5, 32, 32) and not task.anchored(0, 0, g)
    assert torch.equal(task.clip(0, 0, g, b), clip)
    w = task.clip_weight(0, 0, g, b, 10.0)
    assert torch.all(w == 1.0 + CHART_WEIGHT * 10.0)  # every pixel of a chart is a coloured patch
    world = [g for g in range(50) if not charts[g]]
    assert any(task.anchored(0, 0, g) for g in world) and not any(task.anchored(0, 0, g) for g in range(50) if charts[g])
    assert chart_clip(0, 5, 32, 32).shape == (5, 32, 32, 3)
    import pytest

    from vitascope.errors import InvalidOptionError

    with pytest.raises(InvalidOptionError, match="chart_fraction"):
        VAEOptions(chart_fraction=1.5)
    with pytest.raises(InvalidOptionError, match="shapes world"):
        VAEOptions(chart_fraction=0.5, world="faces")
