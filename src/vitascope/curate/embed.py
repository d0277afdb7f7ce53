"""Stage 8: clip embeddings, near-duplicate removal and concept balance.

The paper embeds clips with an in-house VideoCLIP, drops near duplicates by cosine similarity and clusters
the embeddings with k-means (~10k centroids) to resample over-represented concepts. Here the embedder is
pluggable: any callable frames [N, H, W, 3] uint8 -> unit vector [D]. Built in: deterministic visual
features (no model). With a local CLIP/SigLIP folder, transformers' image features averaged over frames.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vitascope.curate.config import EmbedConfig
from vitascope.errors import ModelFolderError

log = logging.getLogger(__name__)

Embedder = Callable[[np.ndarray], np.ndarray]


def builtin_embed(frames: np.ndarray) -> np.ndarray:
    """Layout + colour features of frames [N, H, W, 3] uint8 -> unit vector [288].

    Layout: 16x16 grey thumbnails with mean and scale removed, so two different scenes of similar overall
    brightness are not similar. Colour: an 8 hue x 4 saturation histogram (square-rooted), weighted down.
    """
    import cv2

    thumbs, hists = [], []
    for f in frames:
        g = cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (16, 16), interpolation=cv2.INTER_AREA)
        g = g.astype(np.float32).ravel()
        g -= g.mean()
        thumbs.append(g / (np.linalg.norm(g) + 1e-6))
        hsv = cv2.cvtColor(f, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [8, 4], [0, 180, 0, 256]).ravel()
        hists.append(np.sqrt(hist / max(hist.sum(), 1)))
    layout = np.mean(thumbs, axis=0)
    layout /= np.linalg.norm(layout) + 1e-6
    colour = np.mean(hists, axis=0)
    colour /= np.linalg.norm(colour) + 1e-6
    v = np.concatenate([layout, 0.5 * colour])
    return (v / np.linalg.norm(v)).astype(np.float32)


class TransformersImageEmbedder:
    """CLIP or SigLIP image features from a local folder (config.json + weights + preprocessor_config.json)."""

    def __init__(self, folder: str | Path):
        import torch
        from transformers import AutoImageProcessor, AutoModel

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise ModelFolderError(
                f"{folder} has no config.json; give a CLIP or SigLIP folder saved with save_pretrained()"
            )
        self.processor = AutoImageProcessor.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()
        if not hasattr(self.model, "get_image_features"):
            raise ModelFolderError(f"{folder} is not an image-text model (no get_image_features)")
        self._torch = torch

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        with self._torch.no_grad():
            inputs = self.processor(images=list(frames), return_tensors="pt")
            feats = self.model.get_image_features(pixel_values=inputs["pixel_values"])
            if not isinstance(feats, self._torch.Tensor):  # newer transformers return an output object
                feats = feats.pooler_output
            v = feats.float().mean(0).numpy()  # [D] averaged over frames
        return (v / (np.linalg.norm(v) + 1e-8)).astype(np.float32)


def make_embedder(cfg: EmbedConfig) -> Embedder:
    if cfg.embedder == "clip":
        return TransformersImageEmbedder(cfg.model_folder)
    return builtin_embed


def quality_score(rec: dict[str, Any]) -> float:
    """Which of two duplicates to keep: the sharper, then the longer one."""
    return float(np.log1p(rec.get("sharpness") or 0.0) + 0.1 * (rec["end"] - rec["start"]))


def deduplicate(records: list[dict[str, Any]], threshold: float) -> None:
    """Reject near duplicates in place among kept records: greedy, best quality first."""
    cands = [r for r in records if r["kept"] and r.get("embedding") is not None]
    cands.sort(key=lambda r: (-quality_score(r), r["clip_id"]))
    kept_vecs: list[np.ndarray] = []
    kept_ids: list[str] = []
    for r in cands:
        v = np.asarray(r["embedding"], np.float32)
        if kept_vecs:
            sims = np.stack(kept_vecs) @ v
            j = int(np.argmax(sims))
            if sims[j] >= threshold:
                r["kept"] = False
                r["reasons"] = list(r["reasons"]) + ["duplicate"]
                r["duplicate_of"] = kept_ids[j]
                r["duplicate_similarity"] = float(sims[j])
                continue
        kept_vecs.append(v)
        kept_ids.append(r["clip_id"])


def balance_clusters(records: list[dict[str, Any]], k: int, power: float, seed: int = 0) -> None:
    """k-means concept clusters over kept clips; sample_weight ~ cluster_size^-power, mean 1 over kept clips."""
    kept = sorted(
        (r for r in records if r["kept"] and r.get("embedding") is not None), key=lambda r: r["clip_id"]
    )
    for r in records:
        r.setdefault("cluster", None)
        r.setdefault("sample_weight", 0.0)
    if not kept:
        return
    x = np.stack([np.asarray(r["embedding"], np.float64) for r in kept])
    k = min(k, len(kept))
    if k == 1:
        labels = np.zeros(len(kept), int)
    else:
        from sklearn.cluster import KMeans

        labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(x)
    sizes = np.bincount(labels, minlength=k).astype(np.float64)
    w = sizes[labels] ** -power
    w *= len(w) / w.sum()
    for r, lab, wi in zip(kept, labels, w, strict=False):
        r["cluster"], r["sample_weight"] = int(lab), float(wi)
