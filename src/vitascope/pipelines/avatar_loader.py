"""Loading HunyuanVideo-Avatar from the release's folder layout.

    weights/ckpts/                         (--model takes weights/ or weights/ckpts/)
      hunyuan-video-t2v-720p/transformers/mp_rank_00_model_states.pt   {"module": ...} or {"ema": ...}
      hunyuan-video-t2v-720p/vae/          config.json + pytorch_model.pt (or model.safetensors)
      llava_llama_image/                   LLaVA + tokenizer
      text_encoder_2/                      CLIP-L + tokenizer
      whisper-tiny/                        WhisperModel + preprocessor_config.json
      det_align/detface.pt                 the release's TorchScript face detector (opt-in, see docs/avatar.md)

A `transformers/avatar.json` next to the weights (ours; the release has none) may state the denoising window
in latent frames ("window", the release's 33), the LLaVA text length ("text_max_length", 256) and generation
defaults ("defaults": image_size, steps, cfg_scale, flow_shift, negative_prompt): the bundled avatar demo
(`vitascope/assets/avatar_demo`, see `avatar_demo_folder`) uses them to run short windows at 64x64.

The DiT checkpoint is read with torch.load(weights_only=True, mmap=True) and loaded strictly: missing and
unexpected keys are named. The release ships no DiT config: sizes come from the tensor shapes (a
`transformers/config.json` next to the weights, which tiny test folders carry, overrides them).
"""

from __future__ import annotations

import logging
from pathlib import Path

from vitascope.errors import ModelFolderError, WeightLoadError

log = logging.getLogger(__name__)

DIT_FILE = Path("hunyuan-video-t2v-720p") / "transformers" / "mp_rank_00_model_states.pt"
AVATAR_KEYS = ("ref_in.proj.weight", "audio_proj.proj1.weight", "audio_adapter_blocks.0.to_q.weight")


def avatar_demo_folder() -> Path:
    """The bundled avatar demo model (the default of `generate --image --audio` without --model)."""
    from importlib import resources

    return Path(str(resources.files("vitascope") / "assets" / "avatar_demo"))


def avatar_settings(folder) -> dict:
    """transformers/avatar.json of an Avatar folder ({} for the release), checked."""
    import json

    path = Path(folder.transformer).parent / "avatar.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        window = int(data.get("window", 33))
        length = int(data.get("text_max_length", 256))
        defaults = dict(data.get("defaults", {}))
    except (ValueError, TypeError, AttributeError) as e:
        raise ModelFolderError(f"{path} is not a valid avatar settings file: {e}") from None
    if window < 2 or length < 1:
        raise ModelFolderError(f"{path}: window must be >= 2 and text_max_length >= 1")
    return {"window": window, "text_max_length": length, "defaults": defaults}


def avatar_folder(path):
    """The release folder's parts (`convert.folder.detect_folder`), or ModelFolderError if it is not the Avatar."""
    from vitascope.convert.folder import ModelFolder, detect_folder

    folder = path if isinstance(path, ModelFolder) else detect_folder(Path(path))
    if folder.meta.get("release") != "avatar":
        raise ModelFolderError(
            f"{folder.root} is not a HunyuanVideo-Avatar folder: expected {DIT_FILE}, llava_llama_image/ and "
            "whisper-tiny/ in it or in its ckpts/ sub-folder"
        )
    return folder


def load_avatar_dit(folder, whisper_config, device, dtype, weights_key=None):
    """The DiT through the shared loader (variant from the keys, strict load naming missing/unexpected keys);
    an error when the file is not the Avatar's or does not fit the Whisper folder."""
    from vitascope.convert.loader import load_dit
    from vitascope.models.audio.avatar_dit import AUDIO_WINDOW, AvatarDiT

    dit = load_dit(folder, device, dtype, weights_key=weights_key)
    if not isinstance(dit, AvatarDiT):
        missing = [k for k in AVATAR_KEYS if k not in dit.state_dict()]
        raise WeightLoadError(
            f"{folder.transformer} is not a HunyuanVideo-Avatar DiT: it lacks {', '.join(missing)} (a T2V "
            "checkpoint in the Avatar's place?)"
        )
    features = AUDIO_WINDOW * (whisper_config.encoder_layers + 1) * whisper_config.d_model
    if dit.audio_proj.proj1.in_features != features:
        raise WeightLoadError(
            f"audio_proj.proj1 takes {dit.audio_proj.proj1.in_features} features but the Whisper folder gives "
            f"{features}: it does not belong to this DiT"
        )
    return dit


def load_avatar_pipeline(
    folder, *, device: str | None = "cpu", dtype="float32", weights_key=None, trust_torchscript=False
):
    """An AvatarPipeline from the release's `weights/` or `weights/ckpts/` folder (or its ModelFolder).

    trust_torchscript: use the release's detector `det_align/detface.pt` (TorchScript runs code when loaded);
    otherwise OpenCV's Haar cascade finds the face.
    """
    from vitascope.devices import resolve_device, resolve_dtype
    from vitascope.models.audio.whisper import load_whisper
    from vitascope.models.text.clip import CLIPEncoder
    from vitascope.models.text.llava_avatar import AvatarLlavaEncoder
    from vitascope.models.vae import load_vae
    from vitascope.pipelines.avatar import AvatarPipeline

    dev, dt = resolve_device(device), resolve_dtype(dtype)
    folder = avatar_folder(folder)
    settings = avatar_settings(folder)
    log.info("loading HunyuanVideo-Avatar from %s on %s (%s)", folder.root, dev, dt)
    whisper, fe = load_whisper(folder.audio_encoder, device=dev)
    dit = load_avatar_dit(folder, whisper.config, dev, dt, weights_key)
    vae = load_vae(folder.vae, device=dev, dtype=dt)
    llava = AvatarLlavaEncoder.from_folder(
        folder.text_encoder, device=dev, dtype=dt, max_length=settings.get("text_max_length", 256)
    )
    clip = CLIPEncoder.from_folder(folder.text_encoder_2, device=dev, dtype=dt)
    detector = None
    if trust_torchscript:
        from vitascope.models.audio.release_face import ReleaseFaceDetector

        detector = ReleaseFaceDetector(
            folder.face_detector / "detface.pt", trust_torchscript=True, device=dev
        )
    identity = {
        "name": "hunyuan-video-avatar",
        "layout": "tencent-avatar",
        "path": str(folder.root.resolve()),
        "weights": str(folder.transformer),
        "weights_bytes": folder.transformer.stat().st_size,
        "face_detector": "release (TorchScript)" if detector else "opencv haar cascade",
        "emotion_module": dit.has_emotion,
    }
    if weights_key:
        identity["weights_key"] = weights_key
    if settings:
        identity["window"] = settings["window"]
    pipe = AvatarPipeline(
        dit,
        vae,
        llava,
        clip,
        whisper,
        fe,
        detector=detector,
        identity=identity,
        window=settings.get("window"),
    )
    pipe.defaults = settings.get("defaults", {})
    return pipe
