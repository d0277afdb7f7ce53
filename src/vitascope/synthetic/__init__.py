"""The synthetic video world: seeded procedural scenes with ground truth, their captions, and an analyzer.

    spec = sample_scene(seed=0, frames=17, height=64, width=64, colour="red", motion="moving right")
    video = render(spec)                       # uint8 [T, H, W, 3]
    canonical_caption(spec)                    # 'a red circle moving right on a black background'
    analyze(video).objects[0]["motion"]        # 'moving right'

See docs/synthetic_world.md.
"""

from __future__ import annotations

from vitascope.synthetic.analyze import Analysis, analyze, colour_name
from vitascope.synthetic.captions import (
    STRUCTURED_KEYS,
    canonical_caption,
    caption_variants,
    parse_canonical,
    structured_caption,
)
from vitascope.synthetic.dataset import SyntheticVideoDataset, compare, ground_truth
from vitascope.synthetic.long import LongAnalysis, analyze_long, score_long, window_truth
from vitascope.synthetic.render import object_alpha, render
from vitascope.synthetic.world import (
    BACKGROUNDS,
    CAMERAS,
    COLOURS,
    LONG_PATHS,
    MOTIONS,
    PATHS,
    SHAPES,
    ObjectSpec,
    SceneSpec,
    image_positions,
    sample_scene,
)

__all__ = [
    "BACKGROUNDS",
    "CAMERAS",
    "COLOURS",
    "LONG_PATHS",
    "MOTIONS",
    "PATHS",
    "SHAPES",
    "STRUCTURED_KEYS",
    "Analysis",
    "LongAnalysis",
    "ObjectSpec",
    "SceneSpec",
    "SyntheticVideoDataset",
    "analyze",
    "analyze_long",
    "canonical_caption",
    "caption_variants",
    "colour_name",
    "compare",
    "ground_truth",
    "image_positions",
    "object_alpha",
    "parse_canonical",
    "render",
    "sample_scene",
    "score_long",
    "structured_caption",
    "window_truth",
]
