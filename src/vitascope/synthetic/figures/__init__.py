"""The figure world: articulated figures with COCO-17 keypoints, skeleton images, an analyzer that recovers
keypoints, colours and proportions from frames, and motion templates retargeted to any figure.

    figure = sample_figure(0)                                   # colours and proportions
    keypoints = motion_keypoints(template("wave", 33), figure, height=96, size=(128, 128))   # [T, 17, 2]
    frames = render_figure(figure, keypoints, 96, (128, 128))   # uint8 [T, H, W, 3]
    skeleton = draw_skeleton(keypoints, (128, 128))             # the pose-conditioning frames
    fit_figure(frames[0]).keypoints                             # [17, 2], PCK@0.1 ~ 1.0 on such frames

See docs/figure_world.md.
"""

from __future__ import annotations

from vitascope.synthetic.figures.analyze import (
    FigureFit,
    analyze_pose,
    analyze_video,
    fit_figure,
    pck,
    recover_figure,
)
from vitascope.synthetic.figures.model import (
    ANGLES,
    BONES,
    FIGURE_BACKGROUNDS,
    KEYPOINTS,
    Figure,
    forward,
    sample_figure,
    sample_pose,
)
from vitascope.synthetic.figures.motions import (
    TEMPLATES,
    Motion,
    keypoints_to_motion,
    load_motion,
    max_height,
    motion_for_image,
    motion_from_video,
    motion_keypoints,
    retarget,
    save_motion,
    template,
)
from vitascope.synthetic.figures.posefile import fill_missing, read_pose_json, save_pose_json, write_pose_json
from vitascope.synthetic.figures.render import draw_skeleton, render_figure

__all__ = [
    "ANGLES",
    "BONES",
    "FIGURE_BACKGROUNDS",
    "KEYPOINTS",
    "TEMPLATES",
    "Figure",
    "FigureFit",
    "Motion",
    "analyze_pose",
    "analyze_video",
    "draw_skeleton",
    "fill_missing",
    "fit_figure",
    "forward",
    "keypoints_to_motion",
    "load_motion",
    "max_height",
    "motion_for_image",
    "motion_from_video",
    "motion_keypoints",
    "pck",
    "read_pose_json",
    "recover_figure",
    "render_figure",
    "retarget",
    "sample_figure",
    "sample_pose",
    "save_motion",
    "save_pose_json",
    "template",
    "write_pose_json",
]
