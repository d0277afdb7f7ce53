"""Model folders: Tencent's release layout, diffusers' layout and our own, detected from what is on disk.

vitascope   vitascope.json, transformer/{config.json, model.safetensors}, vae/, text_encoder/, text_encoder_2/
diffusers   model_index.json, transformer/, vae/, text_encoder/ + tokenizer/, text_encoder_2/ + tokenizer_2/
tencent     hunyuan-video-*/transformers/mp_rank_00_model_states.pt, hunyuan-video-*/vae/,
            text_encoder/ (or text_encoder_i2v/), text_encoder_2/   (the `ckpts/` folder of the release)
            The Avatar release (`weights/ckpts/`) has the same DiT path (T2V name), `llava_llama_image/` for
            its text encoder, `whisper-tiny/` and `det_align/`; `weights/` itself is accepted too. Its fp8
            file `mp_rank_00_model_states_fp8.pt` (with `_fp8_map.pt`) is used when the bf16 one is absent.

`detect_folder(path, strict=False)` records missing parts in `ModelFolder.missing` instead of raising, so
`vitascope inspect` can report a partial download.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from vitascope.errors import ModelFolderError

TENCENT_DIT = "mp_rank_00_model_states.pt"
TENCENT_DIT_FP8 = "mp_rank_00_model_states_fp8.pt"
DIFFUSERS_PIPELINES = ("HunyuanVideoPipeline", "HunyuanVideoImageToVideoPipeline")


@dataclass(frozen=True)
class ModelFolder:
    root: Path
    layout: str  # "vitascope" | "diffusers" | "tencent"
    transformer: Path | None  # weights file (a .safetensors, an .index.json of shards, or Tencent's .pt)
    transformer_config: dict | None  # None: infer from the weights (Tencent ships no config)
    vae: Path | None
    text_encoder: Path | None = None
    tokenizer: Path | None = None
    text_encoder_2: Path | None = None
    tokenizer_2: Path | None = None
    meta: dict = field(default_factory=dict)  # vitascope.json / model_index.json contents
    audio_encoder: Path | None = None  # Avatar: whisper-tiny/
    face_detector: Path | None = None  # Avatar: det_align/
    missing: tuple[str, ...] = ()  # parts not found (only with strict=False)

    @property
    def name(self) -> str:
        return self.meta.get("name") or self.root.name


def detect_folder(path: str | Path, *, strict: bool = True) -> ModelFolder:
    root = Path(path).expanduser()
    if not root.exists():
        raise ModelFolderError(
            f"model folder {root} does not exist; pass --model DIR, or leave --model out for the demo model"
        )
    if not root.is_dir():
        raise ModelFolderError(f"{root} is a file; --model needs the model's folder")
    need = _Parts(strict)
    if (root / "vitascope.json").exists():
        return _vitascope(root, need)
    if (root / "model_index.json").exists():
        return _diffusers(root, need)
    if _tencent_dit(root) is not None:
        return _tencent(root, need)
    raise ModelFolderError(
        f"{root} is not a model folder vitascope knows: expected vitascope.json (vitascope layout), "
        f"model_index.json (diffusers layout) or hunyuan-video-*/transformers/{TENCENT_DIT} (Tencent's ckpts/ "
        "layout, or the Avatar release's weights/ folder)"
    )


class _Parts:
    """Finds a folder's parts: raises on the first missing one (strict), or lists them all."""

    def __init__(self, strict: bool):
        self.strict, self.missing = strict, []

    def __call__(self, path: Path, what: str) -> Path | None:
        if path.exists():
            return path
        if self.strict:
            raise ModelFolderError(f"{what} is missing: expected {path}")
        self.missing.append(f"{what} ({path})")
        return None

    def json(self, path: Path, what: str) -> dict | None:
        found = self(path, what)
        if found is None:
            return None
        try:
            return json.loads(found.read_text())
        except ValueError as e:
            raise ModelFolderError(f"{found} is not valid JSON: {e}") from e


def _vitascope(root: Path, need: _Parts) -> ModelFolder:
    meta = need.json(root / "vitascope.json", "vitascope.json")
    cfg = need.json(root / "transformer" / "config.json", "the transformer config")
    # "parts" may point a part at another folder, relative to this one (the bundled pose model shares the
    # demo model's text encoders: {"text_encoder": "../demo/text_encoder", ...})
    parts = (meta or {}).get("parts", {})
    if not isinstance(parts, dict) or not all(isinstance(v, str) for v in parts.values()):
        raise ModelFolderError(f"{root}/vitascope.json: 'parts' must map part names to relative folder paths")

    def part(name: str) -> Path:
        return (root / parts[name]).resolve() if name in parts else root / name

    return ModelFolder(
        root=root,
        layout="vitascope",
        transformer=need(root / "transformer" / "model.safetensors", "the transformer weights"),
        transformer_config=cfg,
        vae=need(part("vae"), "the VAE folder"),
        text_encoder=need(part("text_encoder"), "the LLM text encoder"),
        text_encoder_2=need(part("text_encoder_2"), "the CLIP text encoder"),
        meta=meta,
        missing=tuple(need.missing),
    )


def _diffusers(root: Path, need: _Parts) -> ModelFolder:
    meta = need.json(root / "model_index.json", "model_index.json")
    cls = meta.get("_class_name")
    if cls not in DIFFUSERS_PIPELINES:
        raise ModelFolderError(
            f"{root} holds a diffusers {cls}, not a HunyuanVideo pipeline ({', '.join(DIFFUSERS_PIPELINES)})"
        )
    tdir = root / "transformer"
    names = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json")
    weights = next((tdir / n for n in names if (tdir / n).exists()), None)
    if weights is None:
        if need.strict:
            raise ModelFolderError(f"no diffusion_pytorch_model.safetensors (or its .index.json) in {tdir}")
        need.missing.append(f"the transformer weights ({tdir / names[0]})")
    return ModelFolder(
        root=root,
        layout="diffusers",
        transformer=weights,
        transformer_config=need.json(tdir / "config.json", "the transformer config"),
        vae=need(root / "vae", "the VAE folder"),
        text_encoder=need(root / "text_encoder", "the text encoder"),
        tokenizer=need(root / "tokenizer", "the tokenizer"),
        text_encoder_2=need(root / "text_encoder_2", "the CLIP text encoder"),
        tokenizer_2=need(root / "tokenizer_2", "the CLIP tokenizer"),
        meta=meta,
        missing=tuple(need.missing),
    )


def _tencent_dit(root: Path) -> Path | None:
    """The DiT file of a Tencent ckpts/ folder (or of one model sub-folder, or of the Avatar's weights/);
    T2V first when several models are there, the bf16 file before the fp8 one."""
    for name in (TENCENT_DIT, TENCENT_DIT_FP8):
        if (root / "transformers" / name).exists():
            return root / "transformers" / name
        found = sorted(
            [*root.glob(f"*/transformers/{name}"), *root.glob(f"ckpts/*/transformers/{name}")],
            key=lambda p: ("t2v" not in p.parent.parent.name, str(p)),
        )
        if found:
            return found[0]
    return None


def _first(bases: list[Path], *names: str) -> Path | None:
    return next((b / n for n in names for b in bases if (b / n).exists()), None)


def _tencent(root: Path, need: _Parts) -> ModelFolder:
    dit = _tencent_dit(root)
    model_dir = dit.parent.parent
    ckpts = model_dir.parent if model_dir != root else root.parent
    bases = [root, ckpts]
    i2v = "i2v" in model_dir.name
    avatar = _first(bases, "llava_llama_image", "whisper-tiny") is not None
    cfg_file = dit.parent / "config.json"  # not in the release; lets tiny test folders state their config
    te_names = ("text_encoder_i2v",) if i2v else ("llava_llama_image",) if avatar else ("text_encoder",)
    te = _first(bases, *te_names) or need(ckpts / te_names[0], "the LLM text encoder")
    te2 = _first(bases, "text_encoder_2") or need(ckpts / "text_encoder_2", "the CLIP text encoder")
    audio = face = None
    if avatar:
        audio = _first(bases, "whisper-tiny") or need(ckpts / "whisper-tiny", "the Whisper audio encoder")
        face = _first(bases, "det_align") or need(ckpts / "det_align", "the face detector folder")
    return ModelFolder(
        root=root,
        layout="tencent",
        transformer=dit,
        transformer_config=json.loads(cfg_file.read_text()) if cfg_file.exists() else None,
        vae=need(model_dir / "vae", "the VAE folder"),
        text_encoder=te,
        text_encoder_2=te2,
        meta={"name": model_dir.name, "i2v": i2v, "release": "avatar" if avatar else model_dir.name},
        audio_encoder=audio,
        face_detector=face,
        missing=tuple(need.missing),
    )


# The official defaults (sample_video.py / README) of the released models, as overrides of
# `pipelines.options.ModelDefaults` (whose own defaults are the T2V ones).
OFFICIAL_T2V = {"flow_shift": 7.0, "guidance": 6.0, "i2v_resolution": "720p"}
OFFICIAL_I2V = {**OFFICIAL_T2V, "i2v_stability": True}


def folder_defaults(folder: ModelFolder, config) -> dict:
    """The generation defaults a folder carries (ours), or the official ones for its kind of model."""
    if folder.layout == "vitascope":  # our folders are trained at one size: I2V uses it unless told
        return {"i2v_resolution": "default", **folder.meta.get("defaults", {})}
    if "_vitascope" in folder.meta:  # a diffusers folder written by `vitascope convert`
        return {"i2v_resolution": "default", **folder.meta["_vitascope"].get("defaults", {})}
    base = dict(OFFICIAL_I2V if config.image_condition_type else OFFICIAL_T2V)
    if not config.guidance_embed:
        base["guidance"] = 1.0
    sched = folder.root / "scheduler" / "scheduler_config.json"
    if folder.layout == "diffusers" and sched.exists():
        shift = json.loads(sched.read_text()).get("shift")
        if shift:
            base["flow_shift"] = float(shift)
    return base
