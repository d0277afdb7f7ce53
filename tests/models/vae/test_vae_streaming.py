"""Streaming decode: equals the plain decode (exact mode), is strictly causal (one-pass mode), and keeps peak
memory flat as the number of frames grows."""

import pytest
import torch
from vae_memory import peak_bytes

from _helpers import reseed_parameters
from vitascope.errors import InvalidOptionError
from vitascope.models.vae import CausalVAE3D, VAEConfig


@pytest.fixture(scope="module")
def vae():
    model = CausalVAE3D(VAEConfig.tiny()).eval()
    reseed_parameters(model, 0)
    return model


def _latent(t, hw=4, seed=1, b=1):
    return torch.randn(b, 16, t, hw, hw, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_exact_streaming_equals_plain_decode(vae, chunk):
    z = _latent(6, b=2)  # GroupNorm statistics are per sample
    with torch.no_grad():
        ref = vae.decode(z)
    chunks = list(vae.decode_streaming(z, chunk_latent_frames=chunk, exact=True))
    assert torch.is_grad_enabled()  # the generator must not leak no_grad into the caller
    sizes = [c.shape[2] for c in chunks]
    assert sizes[0] == 4 * (chunk - 1) + 1 and all(s == 4 * chunk for s in sizes[1:-1])
    out = torch.cat(chunks, dim=2)
    assert out.shape == ref.shape
    assert (out - ref).abs().max() < 1e-4  # measured ~5e-6: only the reduction order differs


def test_one_chunk_is_the_plain_decode_in_both_modes(vae):
    z = _latent(3)
    with torch.no_grad():
        ref = vae.decode(z)
    for exact in (False, True):
        (out,) = vae.decode_streaming(z, chunk_latent_frames=3, exact=exact)
        assert (out - ref).abs().max() < 1e-4


def test_causal_mode_never_looks_ahead(vae):
    z = _latent(6)
    z2 = z.clone()
    z2[:, :, 4:] += torch.randn_like(z2[:, :, 4:])
    a = list(vae.decode_streaming(z, chunk_latent_frames=2, exact=False))
    b = list(vae.decode_streaming(z2, chunk_latent_frames=2, exact=False))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # latent frames 0-3
    assert not torch.equal(a[2], b[2])


def test_causal_mode_error_against_plain_decode(vae):
    # One causal pass normalises early chunks with partial-clip statistics, so it differs from the plain
    # decode. Figures for this seeded random tiny model (docs/vae.md): mean |err| ~0.1 on outputs of std ~0.6.
    z = _latent(7)
    with torch.no_grad():
        ref = vae.decode(z)
    out = torch.cat(list(vae.decode_streaming(z, chunk_latent_frames=2, exact=False)), dim=2)
    err = (out - ref).abs()
    assert err.mean() < 0.25 * ref.std()
    # the last chunk sees (almost) whole-clip statistics, so it is closer than the first
    assert err[:, :, -4:].mean() < err[:, :, :5].mean()


@pytest.mark.parametrize("exact", [False, True])
def test_streaming_peak_memory_does_not_grow_with_frames(vae, exact):
    def streamed(t):
        def run():
            for _ in vae.decode_streaming(_latent(t), chunk_latent_frames=1, exact=exact):
                pass  # a consumer that writes frames out and keeps nothing

        return peak_bytes(run)

    def plain(t):
        def run():
            with torch.no_grad():
                vae.decode(_latent(t))

        return peak_bytes(run)

    short, long = streamed(2), streamed(8)
    assert long <= 1.3 * short, (short, long)  # measured 1.02x (the latent-resolution KV cache grows)
    # the measure can tell: the plain decode of the same clips grows with the frames
    assert plain(8) > 3 * plain(2)


def test_bad_chunk_size(vae):
    with pytest.raises(InvalidOptionError, match="chunk_latent_frames"):
        vae.decode_streaming(_latent(2), chunk_latent_frames=0)
