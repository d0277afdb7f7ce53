"""Samples of the synthetic world for training and evaluation, and scoring an analysis against a truth.

`SyntheticVideoDataset` needs no torch: it is a sequence (len, indexing, iteration) of plain dicts, which a
torch DataLoader accepts as a map-style dataset. Sample i is a pure function of (seed, i), so workers,
restarts and shuffles all see the same clip for the same index.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vitascope.errors import InvalidOptionError
from vitascope.synthetic.captions import canonical_caption, caption_variants, structured_caption
from vitascope.synthetic.render import render
from vitascope.synthetic.world import SceneSpec, image_positions, sample_scene


@dataclasses.dataclass(frozen=True)
class SyntheticVideoDataset:
    """n samples drawn from `seed`. A fraction `image_ratio` of them are single images (T=1); the rest
    have `frames` frames. Each sample is a dict:
        video uint8 [T, H, W, 3]; caption (canonical); caption_variant (dropped/permuted structured fields);
        structured (dict); spec (SceneSpec); truth {objects: [{colour, shape, motion, trajectory [T, 2]}],
        camera, background}.
    `constraints` (shape, colour, motion, background, camera) are passed to `sample_scene`."""

    n: int
    seed: int = 0
    frames: int = 17
    height: int = 64
    width: int = 64
    image_ratio: float = 0.0
    n_objects: int | None = None
    constraints: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        if self.n < 0:
            raise InvalidOptionError(f"n={self.n}: a dataset needs a non-negative number of samples")
        if not 0.0 <= self.image_ratio <= 1.0:
            raise InvalidOptionError(f"image_ratio={self.image_ratio} must be a fraction in [0, 1]")
        if isinstance(self.constraints, dict):  # accept a dict for convenience, store it hashable
            object.__setattr__(self, "constraints", tuple(sorted(self.constraints.items())))
        # Fail now rather than at sample 1000: the sizes and constraints must give a valid scene.
        sample_scene(
            self.seed, self.frames, self.height, self.width, self.n_objects, **dict(self.constraints)
        )

    def __len__(self) -> int:
        return self.n

    def _index(self, index: int) -> int:
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} samples")
        return index % self.n

    def spec(self, index: int) -> SceneSpec:
        index = self._index(index)
        scene_seed = int(np.random.SeedSequence([self.seed, index]).generate_state(1)[0])
        is_image = np.random.default_rng([self.seed, index, 1]).random() < self.image_ratio
        constraints = dict(self.constraints)  # an image keeps them: it is frame 0 of such a scene
        frames = 1 if is_image else self.frames
        return sample_scene(scene_seed, frames, self.height, self.width, self.n_objects, **constraints)

    def __getitem__(self, index: int) -> dict:
        index = self._index(index)
        spec = self.spec(index)
        structured = structured_caption(spec)
        return {
            "video": render(spec),
            "caption": canonical_caption(spec),
            "caption_variant": caption_variants(structured, np.random.default_rng([self.seed, index, 2])),
            "structured": structured,
            "spec": spec,
            "truth": ground_truth(spec),
        }

    def __iter__(self):
        for i in range(self.n):
            yield self[i]


def ground_truth(spec: SceneSpec) -> dict:
    """What `analyze` should find in `render(spec)`: objects with trajectories [T, 2] in image pixels."""
    objects = [
        {"colour": o.colour, "shape": o.shape, "motion": o.motion, "trajectory": image_positions(spec, o)}
        for o in spec.objects
    ]
    return {"objects": objects, "camera": spec.camera, "background": spec.background}


def compare(analysis, expected) -> dict:
    """Score an Analysis against a SceneSpec or a `parse_canonical` dict.

    Each expected object is matched to the measured object of the same colour (else the largest one left).
    A single image is expected to be still with a static camera, whatever the expected motion says.
    Returns {colour, shape, motion}: fraction of expected objects whose match agrees; camera: bool; count:
    whether as many objects were found as expected; all: every field right."""
    if isinstance(expected, SceneSpec):
        want = [{"colour": o.colour, "shape": o.shape, "motion": o.motion} for o in expected.objects]
        camera = expected.camera
    else:
        want, camera = list(expected["objects"]), expected.get("camera", "static")
    if (
        analysis.frames == 1
    ):  # one frame shows no motion: an I2V input image is still whatever its prompt says
        want, camera = [{**obj, "motion": "staying still"} for obj in want], "static"
    left = list(analysis.objects)
    hits = {"colour": 0, "shape": 0, "motion": 0}
    for obj in want:
        if not left:
            break
        same = [m for m in left if m["colour"] == obj["colour"]]
        match = same[0] if same else left[0]
        left.remove(match)
        for key in hits:
            hits[key] += match[key] == obj[key]
    score = {key: value / len(want) for key, value in hits.items()}
    score["camera"] = analysis.camera == camera
    score["count"] = len(analysis.objects) == len(want)
    score["all"] = all(v == 1 for k, v in score.items() if k in hits) and score["camera"] and score["count"]
    return score
