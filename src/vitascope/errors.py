"""Errors a user can act on. Each message says what went wrong and what to do."""

from __future__ import annotations


class VitascopeError(Exception):
    """Base class for errors that carry a user-facing explanation."""


class InvalidOptionError(VitascopeError, ValueError):
    """A generation or training option is out of range or inconsistent."""


class ModelFolderError(VitascopeError, FileNotFoundError):
    """A model folder is missing files or is not of a layout we know."""


class WeightLoadError(VitascopeError, KeyError):
    """A state dict does not match the model: names the missing and unexpected keys."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class InputFileError(VitascopeError, ValueError):
    """An input image, audio or video file cannot be read."""


class CancelledError(VitascopeError):
    """Raised from a progress callback to stop a running generation at the next step."""
