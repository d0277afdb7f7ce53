"""The reference photo's size and resize for HunyuanVideo-Avatar (`audio_dataset.get_batch_data`).

The short side goes to `image_size` (704 by default) and both sides are rounded to multiples of 64 (Python's
round, half to even). When the area is above image_size x long, with long 1216 / 768 / 576 / 384 for 704 / 512
/ 384 / 256 (else 1.5 x image_size), the image is rescaled to that area and rounded again. Resampling: LANCZOS.
"""

from __future__ import annotations

import math

import numpy as np

from vitascope.errors import InvalidOptionError

LONG_SIDE = {704: 1216, 512: 768, 384: 576, 256: 384}


def avatar_reference_size(width: int, height: int, image_size: int = 704) -> tuple[int, int]:
    """(width, height) of the resized reference image, as the release computes it."""
    if image_size < 64 or width < 1 or height < 1:
        raise InvalidOptionError(f"image size {image_size} and the photo ({width}x{height}) must be positive")
    scale = image_size / min(width, height)
    new_w, new_h = round(width * scale / 64) * 64, round(height * scale / 64) * 64
    long = LONG_SIDE.get(image_size, image_size * 1.5)
    if new_w * new_h > image_size * long:
        scale = math.sqrt(image_size * long / width / height)
        new_w, new_h = round(width * scale / 64) * 64, round(height * scale / 64) * 64
    if new_w < 64 or new_h < 64:
        raise InvalidOptionError(f"the photo ({width}x{height}) is too elongated for image size {image_size}")
    return new_w, new_h


def resize_reference(image: np.ndarray, image_size: int = 704) -> np.ndarray:
    """RGB uint8 [H, W, 3] -> resized RGB uint8 [H', W', 3] (LANCZOS), H' and W' multiples of 64."""
    from PIL import Image

    w, h = avatar_reference_size(image.shape[1], image.shape[0], image_size)
    return np.asarray(Image.fromarray(image).resize((w, h), Image.LANCZOS))
