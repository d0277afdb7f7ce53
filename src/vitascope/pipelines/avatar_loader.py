"""Loading HunyuanVideo-Avatar from the release's folder layout.

    weights/ckpts/                         (--model takes weights/ or weights/ckpts/)
      hunyuan-video-t2v-720p/transformers/mp_rank_00_model_states.pt   {"module": ...} or {"ema": ...}
      hunyuan-video-t2v-720p/vae/          config.json + pytorch_model.pt (or model.safetensors)
      llava_llama_image/                   LLaVA + tokenizer
      text_encoder_2/                      CLIP-L + tokenizer
      whisper-tiny/                        WhisperModel + preprocessor_config.json
      det_align/detface.pt                 the release's TorchScript face detector (opt-in, see docs/avatar.md)

The DiT checkpoint is read with torch.load(weights_only=True, mmap=True) and loaded strictly: missing and
unexpected keys are named. The release ships no DiT config: sizes come from the tensor shapes (a
`transformers/config.json` next to the weights, which tiny test folders carry, overrides them).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from vitascope.errors import ModelFolderError, WeightLoadError

log = logging.getLogger(__name__)

DIT_FILE = Path("hunyuan-video-t2v-720p") / "transformers" / "mp_rank_00_model_states.pt"
AVATAR_KEYS = ("ref_in.proj.weight", "audio_proj.proj1.weight", "audio_adapter_blocks.0.to_q.weight")


def avatar_ckpts(root: str | Path) -> Path | None:
    """The release's `ckpts/` folder under `root` (root itself or root/ckpts), or None."""
    root = Path(root).expanduser()
    for base in (root, root / "ckpts"):
        if (base / DIT_FILE).is_file() and (base / "whisper-tiny").is_dir():
            return base
    return None


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise ModelFolderError(f"{what} is missing: expected {path} (the release's weights/ckpts/ layout)")
    return path


def load_avatar_dit(ckpts: Path, whisper_config, device, dtype):
    from vitascope.convert.tencent import infer_dit_config
    from vitascope.models.audio.avatar_dit import AUDIO_WINDOW, AvatarDiT
    from vitascope.pipelines.weights import load_strict, read_state_dict

    path = ckpts / DIT_FILE
    state = read_state_dict(path)
    missing = [k for k in AVATAR_KEYS if k not in state]
    if missing:
        raise WeightLoadError(
            f"{path} is not a HunyuanVideo-Avatar DiT: it lacks {', '.join(missing)} (a T2V checkpoint in the "
            "Avatar's place?)"
        )
    cfg_file = path.parent / "config.json"
    overrides = json.loads(cfg_file.read_text()) if cfg_file.exists() else None
    config = infer_dit_config(state, overrides=overrides)
    layers, channels = whisper_config.encoder_layers + 1, whisper_config.d_model
    proj1 = state["audio_proj.proj1.weight"]  # [hidden, 10 * layers * channels]
    if proj1.shape[1] != AUDIO_WINDOW * layers * channels:
        raise WeightLoadError(
            f"audio_proj.proj1 takes {proj1.shape[1]} features but whisper-tiny/ gives "
            f"{AUDIO_WINDOW} x {layers} x {channels}: the Whisper folder does not belong to this DiT"
        )
    with torch.device("meta"):
        dit = AvatarDiT(
            config,
            audio_channels=channels,
            audio_layers=layers,
            adapter_dim_head=state["audio_adapter_blocks.0.to_q.weight"].shape[0],
            audio_hidden=proj1.shape[0],
        )
    load_strict(dit, state, path, assign=True)
    return dit.to(device=device, dtype=dtype).eval()


def load_avatar_pipeline(folder, *, device: str | None = "cpu", dtype="float32", trust_torchscript=False):
    """An AvatarPipeline from the release's `weights/` or `weights/ckpts/` folder.

    trust_torchscript: use the release's detector `det_align/detface.pt` (TorchScript runs code when loaded);
    otherwise OpenCV's Haar cascade finds the face.
    """
    from vitascope.models.audio.whisper import load_whisper
    from vitascope.models.text.clip import CLIPEncoder
    from vitascope.models.text.llava_avatar import AvatarLlavaEncoder
    from vitascope.models.vae import load_vae
    from vitascope.pipelines.avatar import AvatarPipeline
    from vitascope.pipelines.loader import resolve_device, resolve_dtype

    dev, dt = resolve_device(device), resolve_dtype(dtype)
    ckpts = avatar_ckpts(folder)
    if ckpts is None:
        raise ModelFolderError(
            f"{folder} is not a HunyuanVideo-Avatar folder: expected {DIT_FILE} and whisper-tiny/ in it or in "
            "its ckpts/ sub-folder"
        )
    log.info("loading HunyuanVideo-Avatar from %s on %s (%s)", ckpts, dev, dt)
    whisper, fe = load_whisper(_need(ckpts / "whisper-tiny", "the Whisper folder"), device=dev)
    dit = load_avatar_dit(ckpts, whisper.config, dev, dt)
    vae = load_vae(_need(ckpts / DIT_FILE.parts[0] / "vae", "the VAE folder"), device=dev, dtype=dt)
    llava = AvatarLlavaEncoder.from_folder(
        _need(ckpts / "llava_llama_image", "the LLaVA text encoder"), device=dev, dtype=dt
    )
    clip = CLIPEncoder.from_folder(
        _need(ckpts / "text_encoder_2", "the CLIP text encoder"), device=dev, dtype=dt
    )
    detector = None
    if trust_torchscript:
        from vitascope.models.audio.release_face import ReleaseFaceDetector

        detector = ReleaseFaceDetector(ckpts / "det_align" / "detface.pt", trust_torchscript=True, device=dev)
    identity = {
        "name": "hunyuan-video-avatar",
        "layout": "tencent-avatar",
        "path": str(ckpts.resolve()),
        "weights_bytes": (ckpts / DIT_FILE).stat().st_size,
        "face_detector": "release (TorchScript)" if detector else "opencv haar cascade",
    }
    return AvatarPipeline(dit, vae, llava, clip, whisper, fe, detector=detector, identity=identity)
