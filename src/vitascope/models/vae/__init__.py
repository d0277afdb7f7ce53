"""Causal 3D VAE of HunyuanVideo (884-16c): model, tiling, streaming decode, loading."""

from vitascope.models.vae.config import VAEConfig
from vitascope.models.vae.loading import load_vae, save_vae
from vitascope.models.vae.model import CausalVAE3D
from vitascope.models.vae.tiling import TilingConfig

__all__ = ["CausalVAE3D", "TilingConfig", "VAEConfig", "load_vae", "save_vae"]
