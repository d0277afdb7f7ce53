"""I2V image conditioning: resolution buckets and the reference-image tensors."""

from vitascope.models.image.buckets import RESOLUTION_BASE, choose_bucket, i2v_buckets
from vitascope.models.image.prepare import black_image_like, prepare_image, resize_and_crop

__all__ = [
    "RESOLUTION_BASE",
    "black_image_like",
    "choose_bucket",
    "i2v_buckets",
    "prepare_image",
    "resize_and_crop",
]
