"""Talking-head world clips for the avatar recipes: VAE clips and per-clip training items of the avatar task.

Every clip is a pure function of its seed (`TalkingDataset` scene seeds), so pools, resumes and several
processes see the same data. Loss weights put extra weight on the mouths (a mouth covers ~1% of a frame; the
avatar model exists to move it), read from the world's ground truth (head box per frame and mouth layout).
"""

from __future__ import annotations

import numpy as np
import torch

FACE_FPS = 25.0


def face_scene(seed: int, frames: int, height: int, width: int, n_faces: int | None = None, **kw):
    """A talking scene drawn from `seed` (any number of faces the frame holds unless `n_faces`)."""
    from vitascope.synthetic.faces import sample_talk_scene

    return sample_talk_scene(
        int(seed) % (2**31), frames=frames, height=height, width=width, fps=FACE_FPS, n_faces=n_faces, **kw
    )


def face_clip(seed: int, frames: int, height: int, width: int, n_faces: int | None = None, **kw):
    """The rendered clip (`synthetic.faces.TalkingClip`) of `face_scene(...)`."""
    from vitascope.synthetic.faces import make_clip

    return make_clip(face_scene(seed, frames, height, width, n_faces, **kw))


def mouth_boxes(clip) -> np.ndarray:
    """[N, F, 4] mouth boxes (x0, y0, x1, y1, pixels, with a margin for the open mouth) per face and frame."""
    out = []
    for spec, truth in zip(clip.scene.faces, clip.truth["faces"], strict=True):
        box = np.asarray(truth["box"], np.float64)  # [F, 4] head with hair
        b = spec.head_h * clip.scene.height / 2.0  # half head height
        a = spec.aspect * b
        cx, cy = (box[:, 0] + box[:, 2]) / 2.0, box[:, 3] - b  # the head's centre (box bottom = chin)
        my = cy + spec.mouth_v * b
        hw, hh = 1.3 * spec.mouth_w * a + 2, 0.35 * b + 2
        out.append(np.stack([cx - hw, my - hh, cx + hw, my + hh], 1))
    return np.stack(out).astype(np.float32)


def box_weight(boxes: np.ndarray, height: int, width: int, extra: float) -> torch.Tensor:
    """1 + extra inside any of the boxes [N, F, 4]: [1, F, H, W] float32."""
    N, F = boxes.shape[:2]
    ys, xs = np.arange(height)[:, None] + 0.5, np.arange(width)[None] + 0.5
    w = np.ones((F, height, width), np.float32)
    for n in range(N):
        for f in range(F):
            x0, y0, x1, y1 = boxes[n, f]
            w[f][(xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)] = 1.0 + extra
    return torch.from_numpy(w)[None]


def vae_face_clip(seed: int, frames: int, height: int, width: int, mouth_weight: float):
    """(uint8 [F, H, W, 3], weight [1, F, H, W]) of a world clip for VAE training."""
    clip = face_clip(seed, frames, height, width)
    return clip.frames, box_weight(mouth_boxes(clip), height, width, mouth_weight)
