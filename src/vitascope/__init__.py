"""Vitascope: Hunyuan-family video generation, training, curation and serving.

The top-level namespace stays light: heavy modules load on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__", "load_avatar_pipeline", "load_pipeline"]


def load_pipeline(model=None, *, device: str = "cpu", dtype: str = "float32", **kwargs):
    """Load a generation pipeline from a model folder (Tencent, diffusers or vitascope layout).

    `model=None` loads the bundled demo model; a HunyuanVideo-Avatar release folder gives an AvatarPipeline. See `vitascope.pipelines.loader.load_pipeline`.
    """
    from vitascope.pipelines.loader import load_pipeline as _load

    return _load(model, device=device, dtype=dtype, **kwargs)


def load_avatar_pipeline(model, *, device: str = "cpu", dtype: str = "float32", **kwargs):
    """Load HunyuanVideo-Avatar from the release's `weights/` or `weights/ckpts/` folder (docs/avatar.md)."""
    from vitascope.pipelines.avatar_loader import load_avatar_pipeline as _load

    return _load(model, device=device, dtype=dtype, **kwargs)
