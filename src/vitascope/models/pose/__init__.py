"""Pose-driven animation: the pose-conditioned DiT variant (`pose_dit.PoseDiT`)."""

from vitascope.models.pose.pose_dit import (
    POSE_KEYS,
    PoseDiT,
    dit_class_for_state,
    encode_pose_video,
    is_pose_state,
)

__all__ = ["POSE_KEYS", "PoseDiT", "dit_class_for_state", "encode_pose_video", "is_pose_state"]
