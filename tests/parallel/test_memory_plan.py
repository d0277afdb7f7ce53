"""Spatial VAE tiling chosen from the memory budget: a small budget picks tiles and the frames stay close to
the untiled decode; a large one picks none (--plan's line: tests/parallel/test_speed_cli.py)."""

import math
from pathlib import Path

import pytest
import torch

import vitascope
from vitascope.errors import InvalidOptionError
from vitascope.models.vae import VAEConfig
from vitascope.models.vae.loading import load_vae
from vitascope.parallel.memory import choose_vae_tiling, decode_bytes
from vitascope.pipelines.options import ModelDefaults
from vitascope.synthetic import render, sample_scene

HUNYUAN_VAE = VAEConfig()  # the 13B release's VAE: 128 channels at full resolution


def test_decisions_follow_the_budget():
    # 544x960, 17-frame window, bf16: about 9 GiB untiled by the estimate
    est = decode_bytes(HUNYUAN_VAE, 17, 544, 960, 2)
    assert 8 * 2**30 < est < 10 * 2**30
    roomy = choose_vae_tiling(HUNYUAN_VAE, 129, 544, 960, "cpu", 2, budget_gib=80)
    assert roomy.tiling is None and "no spatial tiles" in roomy.describe()
    small = choose_vae_tiling(HUNYUAN_VAE, 129, 544, 960, "cpu", 2, budget_gib=4)
    assert small.tiling.spatial and small.tiling.tile_height == 256 and small.fits
    assert "spatial tiles 256x256" in small.describe() and "--memory-budget" in small.describe()
    tiny = choose_vae_tiling(HUNYUAN_VAE, 129, 544, 960, "cpu", 2, budget_gib=0.01)
    assert tiny.tiling.tile_height == 64 and not tiny.fits and "does not fit" in tiny.describe()
    auto = choose_vae_tiling(HUNYUAN_VAE, 5, 32, 32, "cpu", 4)  # psutil's available memory
    assert auto.tiling is None and "psutil" in auto.source
    with pytest.raises(InvalidOptionError, match="--memory-budget"):
        choose_vae_tiling(HUNYUAN_VAE, 5, 32, 32, "cpu", 4, budget_gib=-1)


@torch.no_grad()
def test_small_budget_tiles_and_stays_close():
    """The bundled demo VAE on a frame-filling textured scene, 128x128: a 3 MiB budget (4.2 MiB estimated untiled) picks 96-px tiles, the
    pipeline's decode uses them, and the frames stay within 30 dB of the untiled decode (GroupNorm statistics
    are per tile, so tiled decodes are close, never identical; docs/speed.md)."""
    from vitascope.pipelines.video import VideoPipeline

    vae = load_vae(Path(vitascope.__file__).parent / "assets" / "demo" / "vae").eval()
    video = render(sample_scene(0, frames=1, height=128, width=128, background="checkered", n_objects=2))
    x = torch.from_numpy(video).permute(3, 0, 1, 2)[None].float() / 127.5 - 1  # [1, 3, 1, 128, 128]
    z = vae.encode(x, tiling=False) * vae.config.scaling_factor
    pipe = VideoPipeline.__new__(VideoPipeline)  # only the decode half: no DiT or text encoders needed
    pipe.vae, pipe.dtype, pipe.vae_tiling = vae, torch.float32, False
    pipe.vae_decode, pipe.memory_budget, pipe.device = "auto", None, torch.device("cpu")
    pipe.defaults = ModelDefaults(frames=17)  # the native clip length the decode policy reads
    plain = pipe.decode(z)
    d = choose_vae_tiling(vae.config, 1, 128, 128, "cpu", 4, budget_gib=3 * 2**-10)
    assert d.tiling is not None and d.tiling.tile_height == 96 and d.fits, d.describe()
    pipe.vae_tiling = d.tiling
    tiled = pipe.decode(z)
    mse = float(((tiled - plain) ** 2).mean())
    assert 0 < mse and 10 * math.log10(1 / mse) >= 30
