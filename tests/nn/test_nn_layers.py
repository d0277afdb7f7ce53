import pytest
import torch
from diffusers.models.embeddings import apply_rotary_emb, get_1d_rotary_pos_embed

from vitascope.errors import InvalidOptionError
from vitascope.nn.attention import attention
from vitascope.nn.embeddings import timestep_features
from vitascope.nn.rope import apply_rope, rope_cos_sin


def test_rope_matches_diffusers_interleaved_tables_and_rotation():
    grid, dims = (3, 4, 5), (4, 6, 6)
    cos, sin = rope_cos_sin(grid, dims, theta=256.0)
    axes = torch.stack(
        torch.meshgrid(*[torch.arange(n, dtype=torch.float32) for n in grid], indexing="ij")
    ).reshape(3, -1)
    ref = [get_1d_rotary_pos_embed(d, axes[i], 256.0, use_real=True) for i, d in enumerate(dims)]
    rcos, rsin = torch.cat([r[0] for r in ref], 1), torch.cat([r[1] for r in ref], 1)
    assert torch.allclose(cos, rcos) and torch.allclose(sin, rsin)
    x = torch.randn(2, 60, 3, 16)
    assert torch.allclose(
        apply_rope(x, cos, sin), apply_rotary_emb(x, (rcos, rsin), sequence_dim=1), atol=1e-6
    )


def test_rope_frame_offset_shifts_time_positions():
    c0, _ = rope_cos_sin((4, 2, 2), (4, 6, 6))
    c1, _ = rope_cos_sin((3, 2, 2), (4, 6, 6), offsets=(1, 0, 0))
    assert torch.allclose(c0[4:], c1)  # frames 1..3 of the first grid are frames 0..2 offset by one


def test_timestep_features_cos_first():
    f = timestep_features(torch.tensor([0.0, 10.0]), 8)
    assert torch.allclose(f[0], torch.tensor([1.0] * 4 + [0.0] * 4))


@pytest.mark.parametrize("masked", [False, True])
def test_sdpa_equals_plain_math(masked):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 7, 3, 8, generator=g) for _ in range(3))
    key_mask = torch.ones(2, 7, dtype=torch.bool)
    if masked:
        key_mask[0, 5:] = False
    a = attention(q, k, v, key_mask=key_mask, backend="sdpa")
    b = attention(q, k, v, key_mask=key_mask, backend="math")
    assert a.shape == (2, 7, 24) and torch.allclose(a, b, atol=1e-6)


def test_unknown_or_missing_backend_is_a_clear_error():
    q = torch.randn(1, 2, 1, 4)
    with pytest.raises(InvalidOptionError, match="one of"):
        attention(q, q, q, backend="xformers")
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        with pytest.raises(InvalidOptionError, match="flash-attn"):
            attention(q, q, q, backend="flash")
