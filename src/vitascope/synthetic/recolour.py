"""Random hue rotations of rendered frames: the whole colour circle from the world's five-colour palette.

The bundled demo VAE, trained on the palette alone, collapsed every other hue onto it (its encoder puts
purple and cyan 0.03 apart, red and green 1.2; docs/lora.md). A colour a LoRA is to teach must first
survive the VAE, so VAE recipes can recolour a share of their clips (`VAEOptions.hue_fraction`).

The rotation is about the grey axis in YIQ space, so black, white and greys stay as they are and only
chroma turns; a chroma scale then reaches the pale and the muted colours (pink, brown) too. It is one
linear map per clip: anti-aliased edges stay consistent mixtures of the new colours."""

from __future__ import annotations

import numpy as np

# RGB -> YIQ (NTSC 1953); Y is luma, (I, Q) the chroma plane rotated below.
_RGB2YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    dtype=np.float64,
)
_YIQ2RGB = np.linalg.inv(_RGB2YIQ)


def hue_matrix(angle: float, chroma: float = 1.0) -> np.ndarray:
    """3x3 matrix M (RGB column vectors: rgb' = M @ rgb) turning hue by `angle` radians and scaling chroma.
    Greys (r = g = b) are fixed points."""
    c, s = np.cos(angle), np.sin(angle)
    turn = np.array([[1.0, 0.0, 0.0], [0.0, c * chroma, -s * chroma], [0.0, s * chroma, c * chroma]])
    return _YIQ2RGB @ turn @ _RGB2YIQ


def recolour(frames: np.ndarray, angle: float, chroma: float = 1.0) -> np.ndarray:
    """uint8 [..., 3] -> uint8 [..., 3] with its hue turned by `angle` and chroma scaled (clipped to 0-255)."""
    m = hue_matrix(angle, chroma).astype(np.float32)
    out = frames.astype(np.float32) @ m.T
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def random_recolour(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`recolour` with a uniform angle and a chroma scale in [0.5, 1.2] drawn from `rng`."""
    return recolour(frames, float(rng.uniform(0.0, 2.0 * np.pi)), float(rng.uniform(0.5, 1.2)))
