"""The avatar task's data: talking-world clips encoded once into a pool of training items (cached on disk).

Per clip (a `synthetic.faces` scene drawn from (recipe seed, clip index)):
    latents   [C, t, h, w]        the clip through the VAE (posterior mean x scaling factor), t = (F - 1)/4 + 1
    ref       [C, W, h, w]        a frame of the clip (jittered a little), repeated to 4W-3 frames and encoded,
                                  as the pipeline encodes the photo (W = the model's window in latent frames)
    audio     [N, F, 10, K, D]    Whisper windows per video frame of each face's own track (fp16)
    face      [N, 1, h, w]        each face's mask (its box at the reference frame, x3 as the release)
    mouth     [1, t, h, w]        1 on the mouths (max over the 4 frames of a latent frame), for the loss
    open      [t]                 the widest mouth opening per latent frame (ground truth, 0-1), for the
                                  lip-sync read-out (train/avatar_sync.py)
    text      [S, E], mask, count the LLaVA states of the prompt with the reference frame; neg_* the negative
    emotion   [C, 1, h, w]        (emotion pools) a frame of another clip with the same expression, encoded
Everything is a function of the seeds: a pool is rebuilt identically, and keyed by the VAE's weights.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)


def vae_hash(vae) -> str:
    h = hashlib.sha256()
    for k, v in sorted(vae.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:10]


def jitter(frame: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """A little colour gain/offset and a shift of up to ~2% of the size (edge pixels repeated)."""
    if amount <= 0 or rng.random() > 0.5:
        return frame
    x = frame.astype(np.float32) * (1.0 + rng.uniform(-amount, amount, 3)) + rng.uniform(-8, 8, 3) * amount
    H, W = frame.shape[:2]
    dy, dx = (int(v) for v in rng.integers(-max(1, H // 50), max(1, H // 50) + 1, 2))
    x = np.roll(x, (dy, dx), axis=(0, 1))
    return np.clip(x, 0, 255).round().astype(np.uint8)


@torch.no_grad()
def encode_video(vae, frames: np.ndarray) -> torch.Tensor:
    """uint8 [F, H, W, 3] -> scaled latents [C, t, h, w]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).float().permute(3, 0, 1, 2)[None] / 127.5 - 1.0
    return (vae.encode(x) * vae.config.scaling_factor)[0].float()


def reference_latents(vae, frame: np.ndarray, window: int) -> torch.Tensor:
    """[C, W, h, w]: the frame repeated to 4W-3 frames, encoded (what the pipeline does with the photo)."""
    return encode_video(vae, np.repeat(frame[None], 4 * window - 3, axis=0))


def to_latent_grid(weight: torch.Tensor, t: int, h: int, w: int) -> torch.Tensor:
    """Pixel weight [1, F, H, W] -> [1, t, h, w]: max over each latent frame's frames and the patch."""
    x = weight[0]  # [F, H, W]
    x = torch.cat([x[:1].expand(4, -1, -1), x], dim=0)[: 4 * t]  # frame 0 alone in latent frame 0
    x = x.view(t, 4, *x.shape[1:]).amax(1)  # [t, H, W]
    return F.adaptive_max_pool2d(x[None], (h, w))  # [1, t, h, w]


def face_masks(boxes: np.ndarray, frame: int, height: int, width: int, h: int, w: int) -> torch.Tensor:
    """[N, 1, h, w] masks of each face's box at `frame` (the release's x3 box, bilinear to the latent grid);
    with several faces the pipeline's disjoint ones (`speakers.speaker_masks`: a pixel inside several boxes
    belongs to the nearest face), so training sees the masks generation uses."""
    from vitascope.models.audio.face import latent_face_mask
    from vitascope.models.audio.speakers import speaker_masks

    out = []
    for b in boxes[:, frame]:
        x0, y0, x1, y1 = (float(v) for v in b)
        x0, y0 = max(x0, 0.0), max(y0, 0.0)
        out.append((x0, y0, max(1.0, min(x1, width) - x0), max(1.0, min(y1, height) - y0)))
    return latent_face_mask(speaker_masks(height, width, out), (h, w))[0]  # [N, 1, h, w]


def text_item(llava, prompt: str, photo: np.ndarray) -> dict:
    ts = llava.encode([prompt], photo)
    mask = ts.mask[0].long()
    return {"states": ts.states[0].float(), "mask": mask, "count": int(mask.sum())}


def save_pool(path: Path, items: list[dict]) -> None:
    from vitascope.io.files import torch_save_atomic

    flat = {f"{i}.{k}": v for i, it in enumerate(items) for k, v in it.items() if torch.is_tensor(v)}
    flat["n"] = torch.tensor(len(items))
    torch_save_atomic(path, flat)


def load_pool(path: Path) -> list[dict]:
    flat = torch.load(path, weights_only=True)
    items: list[dict] = [{} for _ in range(int(flat.pop("n")))]
    for key, v in flat.items():
        i, k = key.split(".", 1)
        items[int(i)][k] = v
    return items
