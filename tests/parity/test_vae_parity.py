"""The causal 3D VAE against diffusers' AutoencoderKLHunyuanVideo on identical weights (tiny config, fp32)."""

import pytest
import torch
from diffusers import AutoencoderKLHunyuanVideo

from _helpers import reseed_parameters
from vitascope.models.vae import CausalVAE3D, VAEConfig, load_vae

TILES = dict(tile_height=16, tile_width=16, tile_frames=8, stride_height=8, stride_width=8, stride_frames=4)
DIFFUSERS_TILES = dict(
    tile_sample_min_height=16,
    tile_sample_min_width=16,
    tile_sample_min_num_frames=8,
    tile_sample_stride_height=8,
    tile_sample_stride_width=8,
    tile_sample_stride_num_frames=4,
)


def _diffusers_kwargs(cfg: VAEConfig) -> dict:
    d = cfg.to_json_dict()
    d.pop("_class_name")
    return d


@pytest.fixture(scope="module")
def pair():
    cfg = VAEConfig.tiny()
    ref = AutoencoderKLHunyuanVideo(**_diffusers_kwargs(cfg)).eval()
    reseed_parameters(ref, 0)
    ours = CausalVAE3D(VAEConfig.from_json_dict(dict(ref.config))).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ref, ours


def _set_diffusers_tiling(ref, spatial: bool, temporal: bool):
    ref.disable_tiling()
    if spatial:
        ref.enable_tiling(**DIFFUSERS_TILES)
    else:  # diffusers keeps the tile sizes on the model; temporal tiling reads them too
        for k, v in DIFFUSERS_TILES.items():
            setattr(ref, k, v)
    ref.use_framewise_encoding = ref.use_framewise_decoding = temporal


def _video(b, f, h, w, seed=1):
    return torch.rand(b, 3, f, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_same_keys_and_shapes(pair):
    ref, ours = pair
    a, b = ref.state_dict(), ours.state_dict()
    assert len(a) == 180
    assert {k: tuple(v.shape) for k, v in a.items()} == {k: tuple(v.shape) for k, v in b.items()}


@pytest.mark.parametrize("frames", [1, 9])
def test_untiled_encode_decode(pair, frames):
    ref, ours = pair
    _set_diffusers_tiling(ref, spatial=False, temporal=False)
    x = _video(2, frames, 32, 40)
    with torch.no_grad():
        mean_ref = ref.encode(x).latent_dist.mode()
        assert (ours.encode(x) - mean_ref).abs().max() < 1e-4
        assert (ours.decode(mean_ref) - ref.decode(mean_ref).sample).abs().max() < 1e-4


def test_posterior_sample_with_the_same_generator(pair):
    ref, ours = pair
    _set_diffusers_tiling(ref, spatial=False, temporal=False)
    x = _video(1, 5, 16, 16)
    with torch.no_grad():
        s_ref = ref.encode(x).latent_dist.sample(generator=torch.Generator().manual_seed(3))
        s_ours = ours.encode(x, sample=True, generator=torch.Generator().manual_seed(3))
    assert (s_ours - s_ref).abs().max() < 1e-4


@pytest.mark.parametrize("spatial, temporal", [(True, False), (False, True), (True, True)])
def test_tiled_encode_decode_match_diffusers(pair, spatial, temporal):
    ref, ours = pair
    _set_diffusers_tiling(ref, spatial, temporal)
    ours.enable_tiling(**TILES, spatial=spatial, temporal=temporal)
    x = _video(1, 17, 24, 40)
    try:
        with torch.no_grad():
            z_ref = ref.encode(x).latent_dist.mode()
            assert (ours.encode(x) - z_ref).abs().max() < 1e-4
            assert (ours.decode(z_ref) - ref.decode(z_ref).sample).abs().max() < 1e-4
    finally:
        ours.disable_tiling()


def test_load_diffusers_save_pretrained_folder(pair, tmp_path):
    ref, _ = pair
    ref.save_pretrained(tmp_path / "vae")
    loaded = load_vae(tmp_path)  # the model root; the vae/ subfolder is found
    _set_diffusers_tiling(ref, spatial=False, temporal=False)
    z = torch.randn(1, 16, 3, 3, 3, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert (loaded.decode(z) - ref.decode(z).sample).abs().max() < 1e-4
