"""Whisper audio features windowed per video frame, as HunyuanVideo-Avatar feeds its `audio_proj`.

The release (`get_audio_feature` + `encode_audio`):
  1. log-mel features of 30 s chunks (480 000 samples at 16 kHz), each padded to 3000 mel frames, concatenated;
  2. the encoder's `output_hidden_states` (embedding output + every layer, the last after the final LayerNorm),
     stacked to [1, 1500, layers+1, C] at 50 Hz, with 4 zero frames prepended;
  3. for video frame f, the 10 Whisper frames starting at 2 * f * s (s = 1 at 25 fps, 2 at 12.5 fps).
It encodes only the first chunk (30 s) and stops at 400 frames (16 s). Here every chunk is encoded and there
is no frame cap: the windows of the first 30 s are identical to the release's, and later ones come from the
later chunks exactly as the first from the first.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from vitascope.errors import ModelFolderError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
CHUNK_SAMPLES = 750 * 640  # 30 s: what one Whisper input (3000 mel frames) covers
MEL_FRAMES = 3000
WINDOW = 10  # Whisper frames per video frame
ZERO_PREFIX = 4


def load_whisper(folder: str | Path, device="cpu"):
    """The release's `whisper-tiny/` (or any Whisper) folder -> (WhisperModel in fp32, feature extractor)."""
    from transformers import WhisperFeatureExtractor, WhisperModel

    folder = Path(folder)
    if not (folder / "config.json").is_file() or not (folder / "preprocessor_config.json").is_file():
        raise ModelFolderError(
            f"{folder} is not a Whisper folder (needs config.json, preprocessor_config.json and the weights, "
            "as the release's weights/ckpts/whisper-tiny/)"
        )
    model = WhisperModel.from_pretrained(str(folder), torch_dtype=torch.float32).to(device).eval()
    return model, WhisperFeatureExtractor.from_pretrained(str(folder))


def video_frame_count(n_samples: int, fps: float = 25.0) -> int:
    """Video frames the audio covers: the release's `len(samples) // 640` at 25 fps."""
    return int(n_samples // round(SAMPLE_RATE / fps))


def input_features(samples: np.ndarray, feature_extractor) -> torch.Tensor:
    """float mono 16 kHz samples [N] -> log-mel [80, 3000 * chunks], one padded 3000-frame block per 30 s."""
    feats = [
        feature_extractor(
            samples[i : i + CHUNK_SAMPLES], sampling_rate=SAMPLE_RATE, return_tensors="pt"
        ).input_features
        for i in range(0, max(len(samples), 1), CHUNK_SAMPLES)
    ]
    return torch.cat(feats, dim=-1)[0]  # [80, 3000 * chunks]


@torch.no_grad()
def encoder_states(model, features: torch.Tensor) -> torch.Tensor:
    """[80, 3000 * chunks] -> [1, 1500 * chunks, layers + 1, C]: every chunk through the encoder, concatenated."""
    dev = next(model.parameters()).device
    out = []
    for i in range(0, features.shape[-1], MEL_FRAMES):
        chunk = features[None, :, i : i + MEL_FRAMES].to(dev, torch.float32)  # [1, 80, 3000]
        states = model.encoder(chunk, output_hidden_states=True).hidden_states
        out.append(torch.stack(states, dim=2))  # [1, 1500, layers + 1, C]
    return torch.cat(out, dim=1)


def frame_windows(states: torch.Tensor, n_frames: int, fps: float = 25.0) -> torch.Tensor:
    """[1, T, K, C] encoder states -> [1, n_frames, 10, K, C] windows (4 zero frames in front, stride 2 per 25 fps
    frame). Windows reaching past the end are zero-filled (only past the last chunk's padding)."""
    step = {25.0: 1, 12.5: 2}.get(float(fps))
    if step is None:
        raise ValueError(f"the Avatar audio windows are defined for 25 or 12.5 fps, got {fps}")
    starts = torch.arange(n_frames, device=states.device) * 2 * step  # [F]
    need = int(starts[-1]) + WINDOW if n_frames else 0
    pad_back = max(0, need - (states.shape[1] + ZERO_PREFIX))
    padded = torch.cat(
        [
            states.new_zeros(1, ZERO_PREFIX, *states.shape[2:]),
            states,
            states.new_zeros(1, pad_back, *states.shape[2:]),
        ],
        dim=1,
    )  # [1, 4 + T + pad, K, C]
    idx = starts[:, None] + torch.arange(WINDOW, device=states.device)  # [F, 10]
    return padded[:, idx]  # [1, F, 10, K, C]


def audio_windows(
    samples: np.ndarray, model, feature_extractor, fps: float = 25.0, release_fp16: bool = True
) -> torch.Tensor:
    """16 kHz mono samples -> [1, F, 10, layers + 1, C] float32 with F = video_frame_count(len(samples), fps).

    release_fp16: round the log-mel features and the windows to fp16 as the release does (its data loader
    carries the features in fp16 and `predict` casts the windows back to that dtype); False keeps fp32.
    """
    n = video_frame_count(len(samples), fps)
    feats = input_features(samples, feature_extractor)
    if release_fp16:
        feats = feats.half().float()
    states = encoder_states(model, feats)
    if release_fp16:
        states = states.half().float()
    log.info("audio: %.2f s -> %d video frames at %g fps", len(samples) / SAMPLE_RATE, n, fps)
    return frame_windows(states, n, fps)
