"""Stage 11: latent precompute. Kept clips -> VAE latents + text embeddings in shards the trainer reads.

Layout (the one `vitascope.data.shards.LatentShards` reads; text tensors ride along in the same file):

    OUT/<frames>x<height>x<width>/shard_00000.safetensors  latents [N, C, T, h, w] (scaled),
                                                          text_states [N, S, D], text_mask [N, S],
                                                          text_pooled [N, D2]  (when a text encoder is given)
    OUT/<frames>x<height>x<width>/shard_00000.json         one record per clip: caption, structured, ...
    OUT/<frames>x<height>x<width>/index.json               written last: marks the bucket complete

Encoders are plain callables so any VAE or text stack plugs in:
    encode_video(x [B, 3, F, H, W] in [-1, 1]) -> latents to store (already multiplied by the scaling factor)
    encode_text(list of prompts) -> {"text_states": [B, S, D], "text_mask": [B, S], "text_pooled": [B, D2]}
`vae_encoder(folder)` and `text_encoder(llm_folder, clip_folder)` build them from model folders.

Resumable: clips are sorted and cut into shards deterministically, and a shard whose two files exist is
skipped. Each file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vitascope.curate.datasets import _ratio
from vitascope.curate.video import decode_segment

log = logging.getLogger(__name__)

VideoEncoder = Callable[[Any], Any]
TextEncoder = Callable[[list[str]], dict[str, Any]]


def vae_encoder(folder: str | Path, device: str = "cpu") -> VideoEncoder:
    """The posterior mean of a vitascope/Tencent/diffusers VAE folder, times its scaling factor."""
    import torch

    from vitascope.models.vae import load_vae

    vae = load_vae(folder, device=device).eval()

    def encode(x):
        with torch.no_grad():
            return vae.encode(x.to(device)) * vae.config.scaling_factor

    return encode


def text_encoder(llm_folder: str | Path, clip_folder: str | Path | None = None, max_length: int = 256):
    """The DiT's text conditioning: LLM hidden states + mask, and CLIP pooled features when given."""
    import torch

    from vitascope.models.text import CLIPEncoder, LLMEncoder

    llm = LLMEncoder.from_folder(llm_folder, max_length=max_length)
    clip = CLIPEncoder.from_folder(clip_folder) if clip_folder else None

    def encode(prompts: list[str]) -> dict[str, Any]:
        with torch.no_grad():
            t = llm.encode(prompts)
            out = {"text_states": t.states, "text_mask": t.mask}
            if clip is not None:
                out["text_pooled"] = clip.encode(prompts)
        return out

    return encode


def write_encoders(latents_dir: str | Path, cfg, max_length: int = 256) -> Path:
    """latents/encoders.json: the VAE and text encoder folders (absolute) and max_length the shards were
    encoded with; the trainer encodes caption variants with the same encoders and assembles its model
    folder from them (vitascope.data.shards.read_encoders)."""

    def absolute(p):
        return str(Path(p).resolve()) if p else None

    info = {"vae_folder": absolute(cfg.vae_folder), "llm_folder": absolute(cfg.llm_folder),
            "clip_folder": absolute(cfg.clip_folder), "max_length": max_length}  # fmt: skip
    path = Path(latents_dir) / "encoders.json"
    _atomic(path, lambda p: Path(p).write_text(json.dumps(info, indent=1)))
    return path


def target_shape(rec: dict[str, Any], short_side: int, fps: float) -> tuple[int, int, int]:
    """(frames, height, width) of a clip's bucket: 4k+1 frames (the VAE's causal stride), sides /16."""
    aspect = _ratio(rec["bucket_aspect"])
    if aspect >= 1:
        h, w = short_side, short_side * aspect
    else:
        h, w = short_side / aspect, short_side
    frames = int(math.floor((rec["bucket_duration"] * fps - 1) / 4)) * 4 + 1
    return max(1, frames), int(round(h / 16)) * 16, int(round(w / 16)) * 16


def load_clip(
    input_dir: str | Path, rec: dict[str, Any], shape: tuple[int, int, int], fps: float
) -> np.ndarray:
    """Frames of a clip at the bucket shape: crop, scale to cover, centre-cut, resample to `fps`. [F, H, W, 3]"""
    import cv2

    f, h, w = shape
    src_fps = rec["fps"]
    first = int(rec.get("start_frame", rec["first_frame"]))
    frames = decode_segment(Path(input_dir) / rec["source"], first, rec["last_frame"], src_fps)
    crop = rec.get("crop")
    crop = json.loads(crop) if isinstance(crop, str) else crop
    if crop:
        frames = frames[:, crop[1] : crop[3], crop[0] : crop[2]]
    idx = np.minimum(np.round(np.arange(f) * src_fps / fps).astype(int), len(frames) - 1)
    ch, cw = frames.shape[1:3]
    s = max(h / ch, w / cw)
    rh, rw = max(h, int(math.ceil(ch * s))), max(w, int(math.ceil(cw * s)))
    y0, x0 = (rh - h) // 2, (rw - w) // 2
    out = [
        cv2.resize(frames[i], (rw, rh), interpolation=cv2.INTER_AREA)[y0 : y0 + h, x0 : x0 + w] for i in idx
    ]
    return np.stack(out)


def precompute_latents(
    records: list[dict[str, Any]],
    input_dir: str | Path,
    out: str | Path,
    encode_video: VideoEncoder,
    encode_text: TextEncoder | None = None,
    short_side: int = 256,
    fps: float = 24.0,
    stage: str | None = None,
    shard_size: int = 16,
    batch_size: int = 2,
) -> dict[str, int]:
    """Encode kept (and, given `stage`, stage-qualified) clips into bucket folders; returns clips per bucket."""
    from vitascope.io.files import save_safetensors_atomic, write_json_atomic

    chosen = [r for r in records if r["kept"] and r.get("bucket") and (stage is None or stage in r["stages"])]
    groups: dict[tuple[int, int, int], list[dict[str, Any]]] = {}
    for r in sorted(chosen, key=lambda r: r["clip_id"]):
        groups.setdefault(target_shape(r, short_side, fps), []).append(r)
    counts = {}
    for shape, recs in sorted(groups.items()):
        folder = Path(out) / "x".join(str(v) for v in shape)
        folder.mkdir(parents=True, exist_ok=True)
        names = []
        for s, start in enumerate(range(0, len(recs), shard_size)):
            part, name = recs[start : start + shard_size], f"shard_{s:05d}"
            names.append(name)
            if (folder / f"{name}.safetensors").exists() and (folder / f"{name}.json").exists():
                continue  # finished by an earlier run
            tensors = _encode_part(input_dir, part, shape, fps, encode_video, encode_text, batch_size)
            save_safetensors_atomic(folder / f"{name}.safetensors", tensors)
            write_json_atomic(
                folder / f"{name}.json", [_shard_record(r) for r in part], indent=None, sort_keys=False
            )
            log.info("wrote %s/%s (%d clips)", folder.name, name, len(part))
        write_json_atomic(folder / "index.json", {"shards": names}, indent=None)
        counts[folder.name] = len(recs)
    return counts


def _encode_part(input_dir, part, shape, fps, encode_video, encode_text, batch_size) -> dict[str, Any]:
    import torch

    lat = []
    for i in range(0, len(part), batch_size):
        clips = [load_clip(input_dir, r, shape, fps) for r in part[i : i + batch_size]]
        x = torch.from_numpy(np.stack(clips)).permute(0, 4, 1, 2, 3).float() / 127.5 - 1  # [B, 3, F, H, W]
        lat.append(encode_video(x).detach().float().cpu())
    tensors = {"latents": torch.cat(lat).contiguous()}  # [N, C, T, h, w]
    if encode_text is not None:
        text = encode_text([_prompt(r) for r in part])
        for k, v in text.items():
            v = v.detach().cpu().contiguous()  # a mask sliced from a longer padded batch is a strided view
            tensors[k] = v.float() if v.is_floating_point() else v
    return tensors


def _caption(r: dict[str, Any]) -> dict[str, str]:
    c = r.get("caption")
    return json.loads(c) if isinstance(c, str) else (c or {})


def _prompt(r: dict[str, Any]) -> str:
    c = _caption(r)
    return c.get("Dense Description") or c.get("Short Description") or ""


def _shard_record(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "clip_id": r["clip_id"], "source": r["source"], "start": r["start"], "end": r["end"],
        "caption": _prompt(r), "structured": _caption(r), "caption_variants": list(r.get("caption_variants") or []),
        "camera_motion": r.get("camera_motion"), "sample_weight": r.get("sample_weight"), "bucket": r.get("bucket"),
    }  # fmt: skip
