"""Rectified flow: schedules, solvers, guidance and the training path (plain functions over torch)."""

from vitascope.flow.guidance import cfg_combine, embedded_guidance
from vitascope.flow.path import interpolate, sample_t, velocity_target
from vitascope.flow.schedule import shift_sigmas, shifted_sigmas, timesteps_from_sigmas
from vitascope.flow.solvers import euler_step

__all__ = [
    "cfg_combine",
    "embedded_guidance",
    "euler_step",
    "interpolate",
    "sample_t",
    "shift_sigmas",
    "shifted_sigmas",
    "timesteps_from_sigmas",
    "velocity_target",
]
