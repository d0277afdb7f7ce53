"""Reference-image preparation for the VAE and the black unconditional image."""

import numpy as np
import pytest
import torch

from vitascope.errors import InputFileError, InvalidOptionError
from vitascope.models.image import black_image_like, choose_bucket, prepare_image, resize_and_crop


def _gradient(h, w):
    """Red grows downwards, green grows rightwards, blue constant."""
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[..., 0] = np.linspace(0, 255, h, dtype=np.float64)[:, None].round().astype(np.uint8)
    img[..., 1] = np.linspace(0, 255, w, dtype=np.float64)[None, :].round().astype(np.uint8)
    img[..., 2] = 128
    return img


@pytest.mark.parametrize("fit", ["stretch", "crop"])
def test_shape_range_and_orientation(fit):
    x = prepare_image(_gradient(90, 160), 64, 96, fit=fit)
    assert x.shape == (1, 3, 1, 64, 96) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    red, green, blue = x[0, :, 0]
    assert red[-1].mean() > red[0].mean() + 1.5 and green[:, -1].mean() > green[:, 0].mean() + 1.5
    assert torch.allclose(blue, torch.full_like(blue, 128 / 255 * 2 - 1), atol=1e-6)


def test_constant_images_map_to_the_ends():
    assert torch.equal(
        prepare_image(np.full((20, 30, 3), 255, np.uint8), 16, 16), torch.ones(1, 3, 1, 16, 16)
    )
    assert torch.equal(prepare_image(np.zeros((20, 30, 3), np.uint8), 16, 32), -torch.ones(1, 3, 1, 16, 32))


def test_crop_keeps_the_center_and_does_not_distort():
    # a 4:3 image with a centered 20x20 white square, cropped to 16:9: the square stays square and centered
    img = np.zeros((120, 160, 3), np.uint8)
    img[50:70, 70:90] = 255
    out = resize_and_crop(img, 90, 160, fit="crop")
    ys, xs = np.nonzero(out[..., 0] > 127)
    assert abs((ys.max() - ys.min()) - (xs.max() - xs.min())) <= 1
    assert abs(ys.mean() - 44.5) <= 1 and abs(xs.mean() - 79.5) <= 1
    stretched = resize_and_crop(img, 90, 160, fit="stretch")
    ys, xs = np.nonzero(stretched[..., 0] > 127)
    assert (xs.max() - xs.min()) - (ys.max() - ys.min()) >= 3  # the official resize squeezes the height


def test_bucketed_16_9_image():
    img = _gradient(108, 192)
    h, w = choose_bucket(*img.shape[:2], resolution="360p")
    assert prepare_image(img, h, w).shape == (1, 3, 1, h, w)


def test_errors_and_black_image():
    with pytest.raises(InputFileError, match="uint8"):
        prepare_image(np.zeros((8, 8, 3), np.float32), 8, 8)
    with pytest.raises(InputFileError):
        prepare_image(np.zeros((8, 8), np.uint8), 8, 8)
    with pytest.raises(InvalidOptionError, match="fit"):
        prepare_image(np.zeros((8, 8, 3), np.uint8), 8, 8, fit="pad")
    black = black_image_like(height=12, width=20)
    assert black.shape == (12, 20, 3) and black.dtype == np.uint8 and not black.any()
    with pytest.raises(InvalidOptionError):
        black_image_like()
