"""The pipeline decodes a clip whole when it fits, streams longer videos (memory flat in the length) and uses
temporal windows only when it must: windows restart the small demo VAE's context and damaged the last frames
of every clip (docs/long_video.md)."""

import numpy as np
import pytest
import torch

import vitascope
from vitascope.models.vae import TilingConfig
from vitascope.pipelines.decode_plan import decode_method, decode_peak_bytes
from vitascope.pipelines.options import GenerationOptions
from vitascope.synthetic.analyze import colour_name


@pytest.fixture(scope="module")
def demo():
    return vitascope.load_pipeline()  # the bundled demo model


PROMPTS = [
    ("red", "a red circle moving right on a black background"),
    ("green", "a green square moving left on a black background"),
    ("blue", "a blue triangle moving up on a black background"),
    ("yellow", "a yellow circle moving down on a black background"),
    ("white", "a white square moving right on a black background"),
]


def _foreground_colour(frame: np.ndarray) -> tuple[str, float]:
    """(colour name of the bright pixels, mean luma of the rest) of a uint8 frame [H, W, 3]."""
    fg = frame.max(axis=-1) > 60
    name = colour_name(frame[fg].mean(axis=0)) if fg.sum() > 5 else "none"
    return name, float(frame[~fg].mean())


def test_the_last_frame_keeps_its_colour_and_the_background_stays_black(demo):
    """Issue 13's native-length target on the demo model: before the decode policy, frames 15-16 (decoded by
    the second temporal window) had the wrong colour in about a third of clips and the background rose to a
    luma of 12."""
    for i, (colour, prompt) in enumerate(PROMPTS):
        video = demo.generate(GenerationOptions(prompt=prompt, seed=100 + i)).frames  # uint8 [17, 64, 64, 3]
        names, lumas = zip(*(_foreground_colour(f) for f in video), strict=True)
        assert names[-1] == colour and names[-2] == colour, (prompt, names)
        assert max(lumas) <= 10, (prompt, np.round(lumas, 1))


def test_auto_decodes_at_once_when_it_fits_and_in_windows_when_not(demo):
    cfg = demo.vae.config
    shape = (1, cfg.latent_channels, 5, 16, 16)
    peak = decode_peak_bytes(cfg, shape, torch.float32)
    f32 = torch.float32
    assert decode_method("auto", cfg, shape, f32, "cpu", budget=peak) == "full"
    assert decode_method("auto", cfg, shape, f32, "cpu", budget=peak - 1) == "windows"
    assert decode_method("windows", cfg, shape, f32, "cpu", budget=10 * peak) == "windows"
    assert decode_method("full", cfg, shape, f32, "cpu", budget=1) == "full"
    longer = decode_peak_bytes(cfg, (1, cfg.latent_channels, 9, 16, 16), f32)
    assert longer > peak and decode_peak_bytes(cfg, shape, torch.bfloat16) < peak
    with pytest.raises(ValueError, match="policy"):
        decode_method("tiles", cfg, shape, f32, "cpu")


def test_auto_streams_videos_longer_than_the_native_clip(demo):
    cfg = demo.vae.config
    native = (1, cfg.latent_channels, 5, 16, 16)
    long = (1, cfg.latent_channels, 43, 16, 16)  # 10x the demo's 17 frames
    huge = 10 * decode_peak_bytes(cfg, long, torch.float32)
    f32 = torch.float32
    # a native clip decodes whole; a long one streams even when its whole decode would fit
    assert decode_method("auto", cfg, native, f32, "cpu", budget=huge, native_latents=5) == "full"
    assert decode_method("auto", cfg, long, f32, "cpu", budget=huge, native_latents=5) == "stream"
    # a chunk that does not fit, or spatial tiles, fall back to windows
    assert decode_method("auto", cfg, long, f32, "cpu", budget=1, native_latents=5) == "windows"
    assert decode_method("auto", cfg, long, f32, "cpu", budget=huge, native_latents=5, spatial_tiles=True) == (
        "windows"
    )
    assert decode_method("stream", cfg, native, f32, "cpu", spatial_tiles=True) == "windows"
    assert demo.decode_method(long) == "stream" and demo.decode_method(native) == "full"


def test_streamed_long_decode_equals_the_whole_decode(demo):
    torch.manual_seed(0)
    z = torch.randn(1, demo.vae.config.latent_channels, 11, 16, 16)  # 41 frames: longer than the native 17
    seen = []
    streamed = np.concatenate(list(demo.decode_chunks(z, progress=lambda d, n: seen.append((d, n)))))
    demo.vae_decode = "full"
    try:
        whole = demo.decode(z)
    finally:
        demo.vae_decode = "auto"
    assert streamed.shape == whole.shape == (41, 64, 64, 3)
    np.testing.assert_allclose(streamed, whole, atol=1e-4)
    assert seen[-1] == (41, 41) and len(seen) > 1  # progress per streamed chunk


def test_the_pipeline_tiling_follows_the_policy(demo):
    shape = (1, demo.vae.config.latent_channels, 5, 16, 16)
    assert demo.tiling(shape) == TilingConfig(spatial=False, temporal=False)
    demo.vae_decode = "windows"
    try:
        assert demo.tiling(shape) == TilingConfig(spatial=False, temporal=True)
    finally:
        demo.vae_decode = "auto"
