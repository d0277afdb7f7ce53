"""The MM-DiT of HunyuanVideo."""

from vitascope.models.dit.config import DiTConfig
from vitascope.models.dit.model import HunyuanVideoDiT

__all__ = ["DiTConfig", "HunyuanVideoDiT"]
