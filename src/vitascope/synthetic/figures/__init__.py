"""The figure world: articulated figures with COCO-17 keypoints, their skeleton images, an analyzer that
recovers keypoints, colours and proportions from frames, and motion templates. See docs/figure_world.md."""
