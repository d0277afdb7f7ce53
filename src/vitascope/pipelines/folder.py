"""Model folders: Tencent's release layout, diffusers' layout and our own, detected from what is on disk.

vitascope   vitascope.json, transformer/{config.json, model.safetensors}, vae/, text_encoder/, text_encoder_2/
diffusers   model_index.json, transformer/, vae/, text_encoder/ + tokenizer/, text_encoder_2/ + tokenizer_2/
tencent     hunyuan-video-*/transformers/mp_rank_00_model_states.pt, hunyuan-video-*/vae/,
            text_encoder/ (or text_encoder_i2v/), text_encoder_2/   (the `ckpts/` folder of the release)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from vitascope.errors import ModelFolderError

TENCENT_DIT = "mp_rank_00_model_states.pt"
DIFFUSERS_PIPELINES = ("HunyuanVideoPipeline", "HunyuanVideoImageToVideoPipeline")


@dataclass(frozen=True)
class ModelFolder:
    root: Path
    layout: str  # "vitascope" | "diffusers" | "tencent"
    transformer: Path  # weights file (a .safetensors, an .index.json of shards, or Tencent's .pt)
    transformer_config: dict | None  # None: infer from the weights (Tencent ships no config)
    vae: Path
    text_encoder: Path | None = None
    tokenizer: Path | None = None
    text_encoder_2: Path | None = None
    tokenizer_2: Path | None = None
    meta: dict = field(default_factory=dict)  # vitascope.json / model_index.json contents

    @property
    def name(self) -> str:
        return self.meta.get("name") or self.root.name


def detect_folder(path: str | Path) -> ModelFolder:
    root = Path(path).expanduser()
    if not root.exists():
        raise ModelFolderError(
            f"model folder {root} does not exist; pass --model DIR, or leave --model out for the demo model"
        )
    if not root.is_dir():
        raise ModelFolderError(f"{root} is a file; --model needs the model's folder")
    if (root / "vitascope.json").exists():
        return _vitascope(root)
    if (root / "model_index.json").exists():
        return _diffusers(root)
    if _tencent_dit(root) is not None:
        return _tencent(root)
    raise ModelFolderError(
        f"{root} is not a model folder vitascope knows: expected vitascope.json (vitascope layout), "
        f"model_index.json (diffusers layout) or hunyuan-video-*/transformers/{TENCENT_DIT} (Tencent's ckpts/ layout)"
    )


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise ModelFolderError(f"{what} is missing: expected {path}")
    return path


def _vitascope(root: Path) -> ModelFolder:
    meta = json.loads((root / "vitascope.json").read_text())
    cfg = json.loads(_need(root / "transformer" / "config.json", "the transformer config").read_text())
    te, te2 = root / "text_encoder", root / "text_encoder_2"
    return ModelFolder(
        root=root,
        layout="vitascope",
        transformer=_need(root / "transformer" / "model.safetensors", "the transformer weights"),
        transformer_config=cfg,
        vae=_need(root / "vae", "the VAE folder"),
        text_encoder=_need(te, "the LLM text encoder"),
        text_encoder_2=_need(te2, "the CLIP text encoder"),
        meta=meta,
    )


def _diffusers(root: Path) -> ModelFolder:
    meta = json.loads((root / "model_index.json").read_text())
    cls = meta.get("_class_name")
    if cls not in DIFFUSERS_PIPELINES:
        raise ModelFolderError(
            f"{root} holds a diffusers {cls}, not a HunyuanVideo pipeline ({', '.join(DIFFUSERS_PIPELINES)})"
        )
    tdir = _need(root / "transformer", "the transformer folder")
    weights = None
    for name in ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json"):
        if (tdir / name).exists():
            weights = tdir / name
    if weights is None:
        raise ModelFolderError(f"no diffusion_pytorch_model.safetensors (or its .index.json) in {tdir}")
    return ModelFolder(
        root=root,
        layout="diffusers",
        transformer=weights,
        transformer_config=json.loads(_need(tdir / "config.json", "the transformer config").read_text()),
        vae=_need(root / "vae", "the VAE folder"),
        text_encoder=_need(root / "text_encoder", "the text encoder"),
        tokenizer=_need(root / "tokenizer", "the tokenizer"),
        text_encoder_2=_need(root / "text_encoder_2", "the CLIP text encoder"),
        tokenizer_2=_need(root / "tokenizer_2", "the CLIP tokenizer"),
        meta=meta,
    )


def _tencent_dit(root: Path) -> Path | None:
    """The DiT file of a Tencent ckpts/ folder (or of one model sub-folder); T2V first when both are there."""
    direct = root / "transformers" / TENCENT_DIT
    if direct.exists():
        return direct
    found = sorted(
        root.glob(f"*/transformers/{TENCENT_DIT}"), key=lambda p: ("t2v" not in p.parent.parent.name, str(p))
    )
    return found[0] if found else None


def _tencent(root: Path) -> ModelFolder:
    dit = _tencent_dit(root)
    model_dir = dit.parent.parent
    ckpts = model_dir.parent if model_dir != root else root.parent
    i2v = "i2v" in model_dir.name
    cfg_file = dit.parent / "config.json"  # not in the release; lets tiny test folders state their config
    te = ckpts / ("text_encoder_i2v" if i2v else "text_encoder")
    for base in (root, ckpts):
        if (base / te.name).exists():
            te = base / te.name
    te2 = next(
        (b / "text_encoder_2" for b in (root, ckpts) if (b / "text_encoder_2").exists()),
        ckpts / "text_encoder_2",
    )
    return ModelFolder(
        root=root,
        layout="tencent",
        transformer=dit,
        transformer_config=json.loads(cfg_file.read_text()) if cfg_file.exists() else None,
        vae=_need(model_dir / "vae", "the VAE folder"),
        text_encoder=_need(te, "the LLM text encoder"),
        text_encoder_2=_need(te2, "the CLIP text encoder"),
        meta={"name": model_dir.name, "i2v": i2v},
    )
