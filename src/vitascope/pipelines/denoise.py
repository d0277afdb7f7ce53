"""The pipelines' view of the one sampler (kept as an import path; the code lives in `flow.sampler` and
`models.dit.sampling` so that training previews and evaluation use it without importing pipelines)."""

from vitascope.flow.sampler import (
    GuidancePolicy,
    Predict,
    StepGuidance,
    StepInfo,
    constant_guidance,
    denoise,
)
from vitascope.models.dit.sampling import TextCondition, dit_predict, sample_dit

__all__ = [
    "GuidancePolicy",
    "Predict",
    "StepGuidance",
    "StepInfo",
    "TextCondition",
    "constant_guidance",
    "denoise",
    "dit_predict",
    "sample_dit",
]
