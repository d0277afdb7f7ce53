"""I2V resolution buckets: the output size is picked from the reference image's aspect ratio.

Reproduces the official sampler (`generate_crop_size_list` + `get_closest_ratio` in HunyuanVideo-I2V):
- a resolution name gives a base edge (720p -> 960, 540p -> 720, 360p -> 480);
- buckets are sizes at a 32 px stride whose area in 32 px cells is at most (base / 32)^2 and whose sides
  differ by at most 4x, enumerated by a staircase walk from wide to tall;
- the bucket whose h/w (rounded to 5 decimals) is nearest to the image's h/w wins; ties go to the first in
  walk order. A 16:9 image at 720p becomes 704 x 1248 (h x w).
"""

from __future__ import annotations

import functools

from vitascope.errors import InvalidOptionError

RESOLUTION_BASE = {"720p": 960, "540p": 720, "360p": 480}
BUCKET_STRIDE = 32
MAX_ASPECT = 4.0


@functools.cache
def _buckets(base: int, stride: int, max_ratio: float) -> tuple[tuple[int, int], ...]:
    # Walk the boundary of a*b <= n cells: keep `a` and grow `b` while the area fits, else shrink `a`.
    # Every visited (a, b) with aspect <= max_ratio is a bucket; the walk's order breaks ratio ties.
    n = round((base / stride) ** 2)
    a, b, out = n, 1, []
    while a > 0:
        if max(a, b) / min(a, b) <= max_ratio:
            out.append((a * stride, b * stride))
        if (b + 1) * a <= n:
            b += 1
        else:
            a -= 1
    return tuple(out)


def _base(resolution: str) -> int:
    try:
        return RESOLUTION_BASE[resolution]
    except KeyError:
        raise InvalidOptionError(
            f"unknown I2V resolution {resolution!r}; choose one of {', '.join(RESOLUTION_BASE)}"
        ) from None


def i2v_buckets(resolution: str) -> list[tuple[int, int]]:
    """All (h, w) buckets of a resolution, in the official order (first = tallest h)."""
    return list(_buckets(_base(resolution), BUCKET_STRIDE, MAX_ASPECT))


def choose_bucket(height: int, width: int, resolution: str = "720p") -> tuple[int, int]:
    """(h, w) of the bucket for an image of `height` x `width` pixels."""
    if height <= 0 or width <= 0:
        raise InvalidOptionError(f"image size must be positive, got {height}x{width}")
    buckets = _buckets(_base(resolution), BUCKET_STRIDE, MAX_ASPECT)
    aspect = height / width
    # min() keeps the first of equal distances, like the official np.argmin.
    return min(buckets, key=lambda hw: abs(round(hw[0] / hw[1], 5) - aspect))
