"""Model folder detection lives in `vitascope.convert.folder` (convert writes folders too); kept importable here."""

from vitascope.convert.folder import ModelFolder, detect_folder

__all__ = ["ModelFolder", "detect_folder"]
