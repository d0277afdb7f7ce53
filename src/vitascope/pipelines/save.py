"""Writing our own layout lives in `vitascope.convert.save` (convert writes it too); kept importable here."""

from vitascope.convert.save import save_vitascope_folder

__all__ = ["save_vitascope_folder"]
