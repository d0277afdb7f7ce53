"""Stage 9: structured captions in the one schema of `vitascope.captions` (the paper's fields); training
variants come from `vitascope.captions.caption_variants`.

The paper's in-house VLM writes a JSON caption with the fields below; the camera-motion classifier's class
is written into it directly. A captioner here is any callable (record, frames [N, H, W, 3] uint8) -> dict.
Built in: a captioner that words the measured attributes (colour, light, motion, people, text); with a local
VLM folder, transformers' image-text-to-text model asked for the same JSON, gaps filled from the built-in.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vitascope.captions import FIELDS, caption_variants  # noqa: F401  (the caption stage's schema and variants)
from vitascope.curate.config import CaptionConfig
from vitascope.errors import ModelFolderError

log = logging.getLogger(__name__)

Captioner = Callable[[dict[str, Any], np.ndarray], dict[str, str]]

_HUES = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "magenta")


def palette(frames: np.ndarray, k: int = 2) -> list[str]:
    """Names of the k dominant colours of frames [N, H, W, 3] uint8 (saturation-weighted hue histogram)."""
    import cv2

    hsv = np.concatenate([cv2.cvtColor(f, cv2.COLOR_RGB2HSV).reshape(-1, 3) for f in frames]).astype(
        np.float32
    )
    sat, val = hsv[:, 1] / 255, hsv[:, 2] / 255
    if (sat * val).mean() < 0.12:  # hardly any colour: name the grey level instead
        m = val.mean()
        return ["black"] if m < 0.2 else ["white"] if m > 0.85 else ["grey"]
    # OpenCV hue is 0-180; bins centred on red (0), orange (15), yellow (30), ...
    edges = np.array([0, 8, 20, 38, 80, 100, 130, 150, 170, 181])
    bins = np.digitize(hsv[:, 0], edges) - 1
    names = _HUES + ("red",)
    weights = np.zeros(len(_HUES))
    for b, name in enumerate(names):
        weights[_HUES.index(name)] += (sat * val)[bins == b].sum()
    order = np.argsort(-weights)
    return [_HUES[i] for i in order[:k] if weights[i] > 0.15 * weights[order[0]]]


def _camera_phrase(motion: str) -> str:
    if motion == "static shot":
        return "The camera holds still"
    if motion == "handheld shot":
        return "A handheld camera wobbles gently"
    verb, direction = motion.split(" ", 1)
    verbs = {"zoom": "zooms", "pan": "pans", "tilt": "tilts", "around": "moves around to the"}
    return f"The camera {verbs[verb]} {direction}"


def builtin_caption(rec: dict[str, Any], frames: np.ndarray | None = None) -> dict[str, str]:
    """A structured caption worded from the record's measured attributes."""
    colours = rec.get("palette") or ["grey"]
    colour_text = " and ".join(colours)
    bright = rec.get("brightness", 128.0)
    light = "dim" if bright < 70 else "bright" if bright > 170 else "evenly lit"
    detail = "richly detailed" if rec.get("sharpness", 0) > 300 else "softly detailed"
    motion = rec.get("camera_motion") or "static shot"
    people = rec.get("people_count") or 0
    who = f"{people} {'person' if people == 1 else 'people'}" if people else "no people"
    speed = rec.get("speed", 0.0)
    pace = "fast-moving" if speed > 0.5 else "slow-moving" if speed > 0.05 else "nearly still"
    text = " with on-screen text" if (rec.get("text_ratio") or 0) > 0.005 else ""
    subject = f"{who} in " if people else ""
    contrast = rec.get("contrast", 40.0)
    colourful = rec.get("colourfulness", 30.0)
    q = float(np.clip(1 + np.log10(1 + rec.get("sharpness", 0.0)) * 1.2, 1, 5))
    return {
        "Short Description": f"A {pace} {motion} of {subject}a {light} {colour_text} scene.",
        "Dense Description": (
            f"{_camera_phrase(motion)} across a {detail}, {light} scene dominated by {colour_text} tones, "
            f"showing {who}{text}; the picture is {pace}."
        ),
        "Background": f"A {colour_text}-toned setting with {detail} textures.",
        "Style": "Vivid, saturated"
        if colourful > 60
        else "Muted, monochrome"
        if colourful < 10
        else "Realistic",
        "Shot Type": _shot_type(rec),
        "Lighting": (
            "Low-key lighting"
            if bright < 70
            else "High-key lighting"
            if bright > 170
            else "Natural, even lighting"
        )
        + (", high contrast" if contrast > 60 else ", soft contrast" if contrast < 25 else ""),
        "Atmosphere": (
            "Moody and mysterious"
            if bright < 70
            else "Energetic and lively"
            if speed > 0.3
            else "Calm and serene"
        ),  # fmt: skip
        "Camera Movement": motion[0].upper() + motion[1:],
        "Metadata Tags": (
            f"Source: {Path(str(rec.get('source', ''))).name}, Resolution: {rec.get('width')}x{rec.get('height')}, "
            f"FPS: {rec.get('fps', 0):.0f}, Duration: {rec['end'] - rec['start']:.1f}s, Quality: {q:.1f}/5"
        ),
    }


def _shot_type(rec: dict[str, Any]) -> str:
    s = rec.get("subject_fraction") or 0.0
    if not rec.get("people_count"):
        return "Wide shot"
    return "Close-up" if s > 0.5 else "Medium shot" if s > 0.25 else "Full shot"


_VLM_PROMPT = (
    "Describe this video frame as a JSON object with exactly these keys: "
    + ", ".join(f'"{f}"' for f in FIELDS[:-2])
    + ". Answer with the JSON object only."
)


class TransformersVLMCaptioner:
    """A local image-text-to-text model (e.g. a Qwen2-VL or LLaVA folder) asked for the JSON caption."""

    def __init__(self, folder: str | Path, max_new_tokens: int = 256):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise ModelFolderError(
                f"{folder} has no config.json; give a VLM folder saved with save_pretrained()"
            )
        self.processor = AutoProcessor.from_pretrained(folder)
        self.model = AutoModelForImageTextToText.from_pretrained(folder).eval()
        self.max_new_tokens = max_new_tokens

    def __call__(self, rec: dict[str, Any], frames: np.ndarray) -> dict[str, str]:
        import torch
        from PIL import Image

        image = Image.fromarray(frames[len(frames) // 2])
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": _VLM_PROMPT}]}]
        prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        inputs = self.processor(images=[image], text=[prompt], return_tensors="pt")
        with torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        text = self.processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[
            0
        ]
        return merge_caption(parse_json_caption(text), builtin_caption(rec, frames), rec)


def parse_json_caption(text: str) -> dict[str, str]:
    """The first JSON object in a model's answer, keeping only known string fields; {} when there is none."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return {}
    try:
        obj = json.loads(text[start : end + 1])
    except ValueError:
        return {}
    return {k: str(v) for k, v in obj.items() if k in FIELDS and isinstance(v, (str, int, float))}


def merge_caption(model: dict[str, str], fallback: dict[str, str], rec: dict[str, Any]) -> dict[str, str]:
    """Model fields where present, built-in ones elsewhere; camera movement always from the classifier."""
    out = {f: model.get(f) or fallback[f] for f in FIELDS}
    out["Camera Movement"] = fallback["Camera Movement"]
    out["Metadata Tags"] = fallback["Metadata Tags"]
    return out


def sidecar_caption(video: str | Path) -> str | None:
    """The user's caption of a video: the text file beside it with the same stem (`clip.mp4` + `clip.txt`,
    the convention LoRA trainers use), whitespace collapsed; None when there is none or it is empty."""
    txt = Path(video).with_suffix(".txt")
    if not txt.is_file():
        return None
    text = " ".join(txt.read_text(encoding="utf-8", errors="replace").split())
    return text or None


def with_sidecar(caption: dict[str, str], video: str | Path) -> dict[str, str]:
    """`caption` with a sidecar caption (see `sidecar_caption`) as its Short and Dense Description: the
    user's words become the training prompt (the shards' `caption` is the Dense Description)."""
    text = sidecar_caption(video)
    if text is None:
        return caption
    return {**caption, "Short Description": text, "Dense Description": text}


def make_captioner(cfg: CaptionConfig) -> Captioner:
    if cfg.captioner == "vlm":
        return TransformersVLMCaptioner(cfg.model_folder)
    return builtin_caption
