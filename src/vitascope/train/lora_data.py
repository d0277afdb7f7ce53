"""What a LoRA trains on: curated latent shards, or a plain folder of clips with captions.

    shards   `vitascope curate` output (OUT, OUT/latents or one bucket folder): `<F>x<H>x<W>/index.json`
             folders at most two levels under --data, encoded with the base model's VAE.
    clips    a folder of videos, each with its caption beside it (`clip.mp4` + `clip.txt`, the convention
             other LoRA trainers use). Each clip is cut to the base model's default shape (its first
             `frames` frames at the model's fps, scaled to cover and centre-cropped), encoded once with the
             base's VAE and text encoders and cached as shards under the run folder, keyed by the files'
             names, sizes, times and captions and by the base model: a rerun or a resume reuses them.

Bad folders are refused with one `error:` line naming the files (missing or empty captions, undecodable or
too short videos), never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from vitascope.errors import InputFileError, InvalidOptionError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
SHOWN = 5  # problems named in one error line


def find_shard_buckets(data: str | Path) -> dict[str, Path]:
    """bucket key (`17x64x64`) -> folder, for every finished shard folder at most two levels under `data`."""
    data = Path(data)
    found: dict[str, Path] = {}
    for index in (
        sorted(data.glob("index.json"))
        + sorted(data.glob("*/index.json"))
        + sorted(data.glob("*/*/index.json"))
    ):
        parts = index.parent.name.split("x")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            found.setdefault(index.parent.name, index.parent)
    return found


def find_clips(data: str | Path) -> list[Path]:
    """The videos directly inside `data` (sorted)."""
    data = Path(data)
    return sorted(p for p in data.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def data_kind(data: str | Path) -> str:
    """ "shards" or "clips"; an error line saying what was expected when `data` is neither."""
    data = Path(data)
    if not data.is_dir():
        raise InvalidOptionError(f"--data {data} is not a folder")
    if find_shard_buckets(data):
        return "shards"
    if find_clips(data):
        return "clips"
    raise InvalidOptionError(
        f"--data {data} holds neither latent shards (<frames>x<height>x<width>/index.json folders, the output "
        f"of `vitascope curate` with encoding) nor videos with captions (clip.mp4 beside clip.txt; videos: "
        f"{', '.join(VIDEO_SUFFIXES)})"
    )


def _named(problems: list[str]) -> str:
    more = f" (and {len(problems) - SHOWN} more)" if len(problems) > SHOWN else ""
    return "; ".join(problems[:SHOWN]) + more


def read_captions(data: str | Path) -> dict[Path, str]:
    """video -> caption (its .txt beside it, whitespace collapsed); one error naming every video without one."""
    out, problems = {}, []
    for video in find_clips(data):
        txt = video.with_suffix(".txt")
        if not txt.is_file():
            problems.append(f"{video.name} has no caption file {txt.name}")
            continue
        text = " ".join(txt.read_text(encoding="utf-8", errors="replace").split())
        if not text:
            problems.append(f"{txt.name} is empty")
            continue
        out[video] = text
    if problems:
        raise InvalidOptionError(f"--data {data}: {_named(problems)}")
    return out


def load_frames(video: Path, frames: int, height: int, width: int, fps: float) -> np.ndarray:
    """`frames` frames of `video` at `fps` from its start, scaled to cover height x width and centre-cut.
    [F, H, W, 3] uint8. InputFileError when it cannot be decoded or is too short."""
    import cv2

    from vitascope.media import read_video

    src, src_fps = read_video(video)  # [N, h, w, 3]
    idx = np.round(np.arange(frames) * src_fps / fps).astype(int)
    need = int(idx[-1]) + 1
    if need > len(src):
        raise InputFileError(
            f"{video.name} is too short: {len(src)} frames at {src_fps:g} fps, {frames} frames at {fps:g} fps "
            f"need {need / src_fps:.2f} s"
        )
    h, w = src.shape[1:3]
    s = max(height / h, width / w)
    rh, rw = max(height, int(np.ceil(h * s))), max(width, int(np.ceil(w * s)))
    y0, x0 = (rh - height) // 2, (rw - width) // 2
    return np.stack(
        [
            cv2.resize(src[i], (rw, rh), interpolation=cv2.INTER_AREA)[y0 : y0 + height, x0 : x0 + width]
            for i in idx
        ]
    )


def cache_key(
    captions: dict[Path, str], base: str | Path, shape: tuple[int, int, int], fps: float, text_len: int
) -> str:
    h = hashlib.sha256(json.dumps([str(Path(base).resolve()), list(shape), fps, text_len]).encode())
    for video, text in sorted(captions.items()):
        st = video.stat()
        h.update(json.dumps([video.name, st.st_size, st.st_mtime_ns, text]).encode())
    return h.hexdigest()[:16]


@torch.no_grad()
def encode_clip_folder(data: str | Path, pipe, shape: tuple[int, int, int], fps: float, cache: Path) -> Path:
    """Encode the clips of `data` with `pipe`'s VAE and text encoders into `cache`/<key>/<F>x<H>x<W>/ shards
    (latents, text states, mask, pooled); reuses a finished cache. Returns the bucket folder."""
    from vitascope.data.shards import finish_shards
    from vitascope.io.files import save_safetensors_atomic, write_json_atomic

    captions = read_captions(data)
    frames, height, width = shape
    key = cache_key(captions, pipe.identity.get("path", ""), shape, fps, pipe.text_encoder.max_length)
    folder = Path(cache) / key / f"{frames}x{height}x{width}"
    if (folder / "index.json").exists():
        log.info("clips of %s already encoded in %s", data, folder)
        return folder
    clips, problems = [], []
    for video in captions:
        try:
            clips.append(load_frames(video, frames, height, width, fps))
        except InputFileError as e:
            problems.append(str(e))
    if problems:
        raise InvalidOptionError(f"--data {data}: {_named(problems)}")
    log.info("encoding %d clips of %s with the base model", len(clips), data)
    vae, dev = pipe.vae, next(pipe.vae.parameters()).device
    items = list(captions.items())
    for s, start in enumerate(range(0, len(items), 16)):
        part = items[start : start + 16]
        x = torch.from_numpy(np.stack(clips[start : start + 16])).permute(0, 4, 1, 2, 3)  # [B, 3, F, H, W]
        lat = vae.encode(x.float().div(127.5).sub(1.0).to(dev, vae.dtype)).float().cpu()  # [B, C, T, h, w]
        texts = [t for _, t in part]
        states = pipe.text_encoder.encode(texts)  # [B, S, D], mask [B, S]
        tensors = {
            "latents": (lat * vae.config.scaling_factor).contiguous(),
            "text_states": states.states.float().cpu().contiguous(),
            "text_mask": states.mask.long().cpu().contiguous(),
            "text_pooled": pipe.clip_encoder.encode(texts).float().cpu().contiguous(),  # [B, D2]
        }
        base = folder / f"shard_{s:05d}"
        save_safetensors_atomic(base.with_suffix(".safetensors"), tensors)
        records = [{"caption": t, "source": v.name} for v, t in part]
        write_json_atomic(base.with_suffix(".json"), records, indent=None, sort_keys=False)
    finish_shards(folder)
    return folder
