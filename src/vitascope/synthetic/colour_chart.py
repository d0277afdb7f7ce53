"""Colour charts: clips of flat patches in colours drawn from the whole RGB cube, drifting across the frame.

A VAE learns a colour only where its loss sees it. World clips show their objects on a few percent of the
pixels, so a VAE taught new hues on recoloured world clips (synthetic/recolour.py) gets a sparse signal and
learns the colour circle slowly (docs/lora.md: 2349 CPU steps and purple still came back blue). A chart
covers every pixel with some colour, half of them away from the world's palette, with anti-aliased edges
and motion so that the causal VAE's temporal layers see them too (`VAEOptions.chart_fraction`)."""

from __future__ import annotations

import numpy as np

# The world's backgrounds (synthetic/world.py) come back often: the charts' patches are then seen on them.
_WORLD_BACKGROUNDS = np.array([[0, 0, 0], [230, 230, 230], [128, 128, 128], [30, 60, 140]], dtype=np.float32)


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """One RGB colour (float32 [3], 0-255): half uniform in the cube, half saturated (a random hue at full
    chroma and random value), where the palette-only VAE went wrong."""
    if rng.random() < 0.5:
        return rng.uniform(0, 255, size=3).astype(np.float32)
    hue = rng.uniform(0, 6)
    sector, frac = int(hue) % 6, hue - int(hue)
    ramp = [
        (1, frac, 0), (1 - frac, 1, 0), (0, 1, frac), (0, 1 - frac, 1), (frac, 0, 1), (1, 0, 1 - frac)
    ][sector]  # fmt: skip
    value, floor = rng.uniform(0.55, 0.95), rng.uniform(0.0, 0.35)
    return (255 * value * (floor + (1 - floor) * np.array(ramp))).astype(np.float32)


def chart_clip(seed: int, frames: int, height: int, width: int, patches: tuple[int, int] = (3, 8)) -> np.ndarray:
    """uint8 [frames, height, width, 3]: a background and `patches` discs and rectangles (4-45% of the short
    side across) of random colours, each drifting at a constant velocity of up to 2 px a frame."""
    rng = np.random.default_rng([seed, 17])
    side = min(height, width)
    if rng.random() < 0.5:
        bg = _WORLD_BACKGROUNDS[rng.integers(len(_WORLD_BACKGROUNDS))]
    else:
        bg = random_colour(rng)
    img = np.broadcast_to(bg, (frames, height, width, 3)).copy()
    ys = (np.arange(height, dtype=np.float32) + 0.5)[None, :, None]  # [1, H, 1]
    xs = (np.arange(width, dtype=np.float32) + 0.5)[None, None, :]  # [1, 1, W]
    t = np.arange(frames, dtype=np.float32)[:, None, None]  # [F, 1, 1]
    for _ in range(int(rng.integers(patches[0], patches[1] + 1))):
        colour = random_colour(rng)
        r = rng.uniform(0.02, 0.22) * side  # half the patch's extent
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        vy, vx = rng.uniform(-2, 2, size=2)
        dy, dx = ys - (cy + vy * t), xs - (cx + vx * t)  # [F, H, W] offsets from the centre
        if rng.random() < 0.5:
            dist = np.sqrt(dx**2 + dy**2) - r  # signed distance to a disc
        else:
            aspect = rng.uniform(0.5, 2.0)
            dist = np.maximum(np.abs(dx) - r * aspect**0.5, np.abs(dy) - r / aspect**0.5)  # to a rectangle
        alpha = np.clip(0.5 - dist, 0.0, 1.0)[..., None]  # one pixel of anti-aliasing, as the world's edges
        img = img * (1 - alpha) + colour * alpha
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
