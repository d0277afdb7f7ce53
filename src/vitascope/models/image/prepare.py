"""Reference-image tensors for I2V: what the VAE encodes as the first frame, and the black CFG image.

The official sampler builds the VAE input with torchvision on a PIL image:
`Resize((h, w))` -> `CenterCrop((h, w))` -> `ToTensor()` -> `Normalize(0.5, 0.5)`. Given a (h, w) pair,
torchvision's Resize scales both sides to exactly (h, w) (PIL bilinear with its built-in antialiasing), so
the crop is a no-op and the image is stretched to the bucket; buckets are chosen by nearest aspect ratio,
so the stretch is small (16:9 -> 704x1248 is 0.3%). `fit="stretch"` reproduces that; `fit="crop"` scales
the image until it covers (h, w) and cuts the middle, which never distorts and is the better choice when
(h, w) is not the image's bucket.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from vitascope.errors import InputFileError, InvalidOptionError


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise InputFileError(f"reference image must be a uint8 RGB array [H, W, 3], got {got}")


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    return np.array(Image.fromarray(image).resize((width, height), Image.BILINEAR))  # writable copy


def resize_and_crop(
    image: np.ndarray, height: int, width: int, fit: Literal["stretch", "crop"] = "stretch"
) -> np.ndarray:
    """uint8 [H, W, 3] -> uint8 [height, width, 3]."""
    _check_image(image)
    if height <= 0 or width <= 0:
        raise InvalidOptionError(f"target size must be positive, got {height}x{width}")
    if fit == "stretch":
        return _resize(image, height, width)
    if fit != "crop":
        raise InvalidOptionError(f"fit must be 'stretch' (official) or 'crop', got {fit!r}")
    h, w = image.shape[:2]
    # Scale so both sides cover the target, then cut the middle (CenterCrop's rounding of the offsets).
    scale = max(height / h, width / w)
    new_h, new_w = max(height, int(h * scale + 1e-9)), max(width, int(w * scale + 1e-9))
    resized = _resize(image, new_h, new_w)
    top = int(round((new_h - height) / 2.0))
    left = int(round((new_w - width) / 2.0))
    return resized[top : top + height, left : left + width]


def prepare_image(
    image: np.ndarray, height: int, width: int, fit: Literal["stretch", "crop"] = "stretch"
) -> torch.Tensor:
    """uint8 [H, W, 3] -> float32 [1, 3, 1, height, width] in [-1, 1], ready for the VAE encoder."""
    pixels = resize_and_crop(image, height, width, fit)
    x = torch.from_numpy(np.ascontiguousarray(pixels)).float().div_(255.0)  # [h, w, 3] in [0, 1]
    x = x.sub_(0.5).div_(0.5)  # Normalize(0.5, 0.5), the official op order
    return x.permute(2, 0, 1)[None, :, None]  # [1, 3, 1, h, w]


def black_image_like(
    image: np.ndarray | None = None, height: int | None = None, width: int | None = None
) -> np.ndarray:
    """All-black uint8 [H, W, 3]: the LLaVA image of the I2V unconditional (negative prompt) pass.

    The official code makes it the reference image's size, diffusers the output size; the CLIP processor
    resizes it to 336 px either way, so the encoded result is the same.
    """
    if image is not None:
        _check_image(image)
        return np.zeros_like(image)
    if height is None or width is None or height <= 0 or width <= 0:
        raise InvalidOptionError("black_image_like needs an image or a positive height and width")
    return np.zeros((height, width, 3), dtype=np.uint8)
