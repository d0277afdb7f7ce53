"""The VAE on its own: config, shapes, causal building blocks, posterior sampling, tiling invariants."""

import math

import pytest
import torch

from _helpers import reseed_parameters
from vitascope.errors import InvalidOptionError
from vitascope.models.vae import CausalVAE3D, TilingConfig, VAEConfig
from vitascope.models.vae.layers import CausalConv3d, frame_causal_attention

TENCENT_CONFIG = {  # the hub's hunyuan-video-t2v-720p/vae/config.json, as quoted by several public copies
    "_class_name": "AutoencoderKLCausal3D",
    "_diffusers_version": "0.4.2",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlockCausal3D"] * 4,
    "in_channels": 3,
    "latent_channels": 16,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 256,
    "sample_tsize": 64,
    "up_block_types": ["UpDecoderBlockCausal3D"] * 4,
    "scaling_factor": 0.476986,
    "time_compression_ratio": 4,
    "mid_block_add_attention": True,
}


@pytest.fixture(scope="module")
def vae():
    model = CausalVAE3D(VAEConfig.tiny()).eval()
    reseed_parameters(model, 0)
    return model


def _video(f, h, w, seed=1, b=1):
    return torch.rand(b, 3, f, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_config_reads_tencent_and_roundtrips():
    assert VAEConfig.from_json_dict(TENCENT_CONFIG) == VAEConfig()
    tiny = VAEConfig.tiny()
    assert VAEConfig.from_json_dict(tiny.to_json_dict()) == tiny
    assert VAEConfig().latent_shape(129, 720, 1280) == (33, 90, 160)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(norm_num_groups=3), "norm_num_groups"),
        (dict(temporal_compression_ratio=8), "temporal_compression_ratio"),
        (dict(spatial_compression_ratio=6), "spatial_compression_ratio"),
        (dict(block_out_channels=(8, 8)), "at least 3 blocks"),
    ],
)
def test_config_rejects_bad_values(change, match):
    with pytest.raises(InvalidOptionError, match=match):
        VAEConfig(**{**VAEConfig.tiny().__dict__, **change})


def test_config_rejects_other_vae_families():
    with pytest.raises(InvalidOptionError, match="1.5"):
        VAEConfig.from_json_dict({**TENCENT_CONFIG, "down_block_types": ["HunyuanVideo15DownBlock3D"] * 4})


def test_shapes_video_and_image(vae):
    with torch.no_grad():
        z = vae.encode(_video(9, 32, 48, b=2))
        assert z.shape == (2, 16, 3, 4, 6)
        assert vae.decode(z).shape == (2, 3, 9, 32, 48)
        assert vae.encode(_video(1, 16, 16)).shape == (1, 16, 1, 2, 2)
    with pytest.raises(InvalidOptionError, match="4k\\+1"):
        vae.encode(_video(8, 32, 32))
    with pytest.raises(InvalidOptionError, match="latents"):
        vae.decode(torch.zeros(1, 4, 2, 4, 4))


def test_causal_conv_never_sees_later_frames():
    torch.manual_seed(0)
    conv = CausalConv3d(4, 5, 3, stride=(2, 2, 2))
    x = torch.randn(1, 4, 9, 8, 8)
    x2 = x.clone()
    x2[:, :, 5:] = torch.randn_like(x2[:, :, 5:])
    a, b = conv(x), conv(x2)
    assert a.shape[2] == 5  # (9 - 1) // 2 + 1
    assert torch.equal(a[:, :, :3], b[:, :, :3]) and not torch.equal(a[:, :, 3:], b[:, :, 3:])


def test_frame_causal_attention_equals_the_masked_reference():
    torch.manual_seed(0)
    t, n, d = 3, 4, 8
    q, k, v = (torch.randn(2, t * n, d) for _ in range(3))
    frame = torch.arange(t * n) // n
    allowed = frame[None, :] <= frame[:, None]  # query frame >= key frame
    scores = (q @ k.transpose(1, 2) / math.sqrt(d)).masked_fill(~allowed, float("-inf"))
    ref = scores.softmax(-1) @ v
    assert (frame_causal_attention(q, k, v, n) - ref).abs().max() < 1e-5


def test_full_model_is_not_strictly_causal(vae):
    # As in the official model: GroupNorm statistics span all frames, so later frames nudge earlier latents.
    # Streaming and tiling handle this explicitly (see test_vae_streaming.py and docs/vae.md).
    x = _video(9, 16, 16)
    x2 = x.clone()
    x2[:, :, 5:] += 1.0
    with torch.no_grad():
        diff = (vae.encode(x) - vae.encode(x2)).abs()
    assert diff[:, :, 0].max() > 1e-3


def test_posterior_sample_is_mean_plus_std_noise(vae):
    x = _video(5, 16, 16)
    with torch.no_grad():
        mean, logvar = vae.encode_moments(x)
        s1 = vae.encode(x, sample=True, generator=torch.Generator().manual_seed(7))
        s2 = vae.encode(x, sample=True, generator=torch.Generator().manual_seed(7))
    noise = torch.randn(mean.shape, generator=torch.Generator().manual_seed(7))
    assert torch.equal(s1, s2)
    assert torch.allclose(s1, mean + torch.exp(0.5 * logvar) * noise, atol=1e-6)
    assert logvar.min() >= -30 and logvar.max() <= 20


def test_tiling_is_exact_where_tiles_see_what_the_whole_sees(vae):
    # A spatially uniform clip looks the same through every tile (replicate padding = true context, equal
    # GroupNorm statistics), and a temporally constant clip through every window; so tiling must reproduce the
    # untiled result there. Wrong blend weights or crops break this.
    g = torch.Generator().manual_seed(3)
    uniform = (torch.rand(1, 3, 17, 1, 1, generator=g) * 2 - 1).expand(-1, -1, -1, 48, 40).contiguous()
    still = (torch.rand(1, 3, 1, 48, 40, generator=g) * 2 - 1).expand(-1, -1, 17, -1, -1).contiguous()
    small = dict(
        tile_height=16, tile_width=16, stride_height=8, stride_width=8, tile_frames=8, stride_frames=4
    )
    for x, kind in ((uniform, dict(temporal=False)), (still, dict(spatial=False))):
        with torch.no_grad():
            z, d = vae.encode(x), vae.decode(vae.encode(x))
            vae.enable_tiling(**small, **kind)
            zt, dt = vae.encode(x), vae.decode(z)
            vae.disable_tiling()
        assert (zt - z).abs().max() < 1e-4 and (dt - d).abs().max() < 1e-4


def test_tiles_larger_than_the_input_change_nothing(vae):
    x = _video(9, 32, 32)
    with torch.no_grad():
        z, d = vae.encode(x), vae.decode(vae.encode(x))
        vae.enable_tiling(TilingConfig())
        assert torch.equal(vae.encode(x), z) and torch.equal(vae.decode(z), d)
        vae.disable_tiling()


def test_tiling_config_validation():
    with pytest.raises(InvalidOptionError, match="multiples of 8"):
        TilingConfig(tile_height=100)
    with pytest.raises(InvalidOptionError, match="larger than"):
        TilingConfig(tile_frames=8, stride_frames=12)
