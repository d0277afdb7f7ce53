"""Samples of the talking-head world for training and evaluation, as plain dicts (no torch needed).

Sample i is a pure function of (seed, i), so workers, restarts and shuffles see the same clip for the same
index. A torch DataLoader accepts the dataset as a map-style dataset.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.faces.render import make_clip
from vitascope.synthetic.faces.world import DEFAULT_FPS, TalkScene, sample_talk_scene


@dataclasses.dataclass(frozen=True)
class TalkingDataset:
    """n clips drawn from `seed`, each a dict:
        video uint8 [F, H, W, 3]; audio float32 [S] (the mix, 16 kHz); tracks float32 [N, S] (one per
        face, left to right); boxes float32 [N, F, 4] (x0, y0, x1, y1 pixels, hair included: face masks);
        expressions (N names); truth (motion.ground_truth); scene (TalkScene).
    `n_faces`, `expressions`, `audio`, `lead` are passed to `sample_talk_scene` (None: drawn)."""

    n: int
    seed: int = 0
    frames: int = 50
    height: int = 128
    width: int = 128
    fps: float = DEFAULT_FPS
    n_faces: int | None = None
    expressions: tuple[str, ...] | None = None
    audio: tuple[str, ...] | None = None
    lead: int | None = None

    def __post_init__(self):
        if self.n < 0:
            raise InvalidOptionError(f"n={self.n}: a dataset needs a non-negative number of samples")
        if self.n:
            self.scene(0)  # fail now, not at sample 1000, on sizes that cannot hold the faces

    def __len__(self) -> int:
        return self.n

    def scene(self, index: int) -> TalkScene:
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} samples")
        scene_seed = int(np.random.SeedSequence([self.seed, index % self.n]).generate_state(1)[0])
        return sample_talk_scene(
            scene_seed,
            frames=self.frames,
            height=self.height,
            width=self.width,
            fps=self.fps,
            n_faces=self.n_faces,
            expressions=self.expressions,
            audio=self.audio,
            lead=self.lead,
        )

    def __getitem__(self, index: int) -> dict:
        clip = make_clip(self.scene(index))
        faces = clip.truth["faces"]
        return {
            "video": clip.frames,
            "audio": clip.audio,
            "tracks": clip.tracks,
            "boxes": np.stack([f["box"] for f in faces]).astype(np.float32),  # [N, F, 4]
            "expressions": [f["expression"] for f in faces],
            "truth": clip.truth,
            "scene": clip.scene,
        }

    def __iter__(self):
        return (self[i] for i in range(self.n))
