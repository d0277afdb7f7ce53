"""I2V resolution buckets against a brute-force reading of the official rule."""

import pytest

from vitascope.errors import InvalidOptionError
from vitascope.models.image import choose_bucket, i2v_buckets

BASES = {"720p": 960, "540p": 720, "360p": 480}


def _reference_buckets(base):
    """All (h, w) at stride 32 with a*b <= n < (a+1)*(b+1) cells (the staircase the official walk visits)
    and aspect <= 4, ordered by decreasing h as the walk produces them."""
    n = round((base / 32) ** 2)
    out = [
        (a * 32, b * 32)
        for a in range(1, n + 1)
        for b in range(1, n + 1)
        if a * b <= n < (a + 1) * (b + 1) and max(a, b) / min(a, b) <= 4
    ]
    return sorted(out, key=lambda hw: -hw[0])


def _reference_choice(h, w, resolution):
    buckets = _reference_buckets(BASES[resolution])
    dists = [abs(round(bh / bw, 5) - h / w) for bh, bw in buckets]
    return buckets[dists.index(min(dists))]


@pytest.mark.parametrize("resolution", list(BASES))
def test_bucket_list_matches_brute_force(resolution):
    assert i2v_buckets(resolution) == _reference_buckets(BASES[resolution])
    for h, w in i2v_buckets(resolution):
        assert h % 32 == 0 and w % 32 == 0 and (h // 32) * (w // 32) <= round((BASES[resolution] / 32) ** 2)


def test_published_example():
    assert choose_bucket(1080, 1920, "720p") == (704, 1248)
    assert choose_bucket(1920, 1080, "720p") == (1248, 704)


@pytest.mark.parametrize("resolution", list(BASES))
@pytest.mark.parametrize(
    "hw",
    [(1080, 1920), (1920, 1080), (720, 720), (600, 800), (800, 600), (480, 1920), (2000, 300), (333, 517)],
)
def test_choice_matches_brute_force(resolution, hw):
    got = choose_bucket(*hw, resolution=resolution)
    assert got == _reference_choice(*hw, resolution)
    # landscape stays landscape, portrait stays portrait
    assert (got[0] <= got[1]) == (hw[0] <= hw[1]) or hw[0] == hw[1]


def test_square_buckets():
    # 540p: 720 / 32 = 22.5 is not a whole number of cells; the area bound round(22.5^2) = 506 cells
    # admits 22 x 22 but not 23 x 23, so the official square bucket is 704, not 720.
    assert [choose_bucket(512, 512, r) for r in BASES] == [(960, 960), (704, 704), (480, 480)]


def test_bad_inputs():
    with pytest.raises(InvalidOptionError, match="720p"):
        choose_bucket(10, 10, "1080p")
    with pytest.raises(InvalidOptionError, match="positive"):
        choose_bucket(0, 10)
