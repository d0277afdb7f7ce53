"""Writing a model folder in vitascope's own layout (what `vitascope convert --to vitascope` and training write)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from vitascope.io.files import save_safetensors_atomic, write_json_atomic


def save_vitascope_folder(
    folder: str | Path,
    dit,
    vae=None,
    *,
    name: str,
    defaults=None,
    text: dict | None = None,
    i2v_mode: str | None = None,
    extra: dict | None = None,
) -> Path:
    """Write transformer/ (Tencent key names), vae/ and vitascope.json; text encoders are copied by the caller
    (they are transformers folders already: `write_tiny_text_encoders` or `shutil.copytree`).

    defaults: a `pipelines.options.ModelDefaults` or a dict of its fields (generation defaults of the model).
    """
    folder = Path(folder)
    write_json_atomic(folder / "transformer" / "config.json", dit.config.to_dict())
    save_safetensors_atomic(folder / "transformer" / "model.safetensors", dit.state_dict())
    if vae is not None:
        from vitascope.models.vae import save_vae

        save_vae(vae, folder / "vae")
    if dataclasses.is_dataclass(defaults):
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
    write_json_atomic(folder / "vitascope.json", meta)  # last: a folder without it is not a model yet
    return folder
