"""Writing a model folder in vitascope's own layout (what `vitascope convert --to vitascope` and training write)."""

from __future__ import annotations

from pathlib import Path

from vitascope.pipelines.options import ModelDefaults
from vitascope.pipelines.weights import save_safetensors_atomic, write_json_atomic


def save_vitascope_folder(
    folder: str | Path,
    dit,
    vae=None,
    *,
    name: str,
    defaults: ModelDefaults | dict | None = None,
    text: dict | None = None,
    i2v_mode: str | None = None,
    extra: dict | None = None,
) -> Path:
    """Write transformer/ (Tencent key names), vae/ and vitascope.json; text encoders are copied by the caller
    (they are transformers folders already: `write_tiny_text_encoders` or `shutil.copytree`)."""
    import dataclasses

    folder = Path(folder)
    write_json_atomic(dit.config.to_dict(), folder / "transformer" / "config.json")
    save_safetensors_atomic(
        {k: v.detach().cpu() for k, v in dit.state_dict().items()},
        folder / "transformer" / "model.safetensors",
    )
    if vae is not None:
        from vitascope.models.vae import save_vae

        save_vae(vae, folder / "vae")
    if isinstance(defaults, ModelDefaults):
        defaults = dataclasses.asdict(defaults)
    meta = {
        "format": "vitascope",
        "name": name,
        "defaults": defaults or {},
        "text": text or {},
        **(extra or {}),
    }
    if i2v_mode:
        meta["i2v_mode"] = i2v_mode
    write_json_atomic(meta, folder / "vitascope.json")  # last: a folder without it is not a model yet
    return folder
