"""The one structured-caption schema, shared by curation (`curate/caption.py`), the synthetic world
(`synthetic/captions.py`) and the trainer (`train/dit_task.py`).

A structured caption is a dict with the paper's fields (§2.2.1), in this order:

    Short Description, Dense Description, Background, Style, Shot Type, Lighting, Atmosphere,
    Camera Movement, Metadata Tags

Values are strings; Metadata Tags may also be a list of strings. Not every field has to be present.
`caption_variant` turns one into a training caption: a description always kept (unlabelled), each other
field kept with probability 1 - dropout (as "Label: value."), in a shuffled order, the paper's defence
against a text encoder that overfits one caption style.
"""

from __future__ import annotations

import zlib

import numpy as np

FIELDS = (
    "Short Description", "Dense Description", "Background", "Style", "Shot Type", "Lighting", "Atmosphere",
    "Camera Movement", "Metadata Tags",
)  # fmt: skip
DESCRIPTIONS = ("Short Description", "Dense Description")


def check_caption(caption: dict) -> dict:
    """`caption` itself, after checking every key is a schema field (ValueError naming the first that is
    not) and that it holds a description."""
    bad = [k for k in caption if k not in FIELDS]
    if bad:
        raise ValueError(f"structured caption: unknown field {bad[0]!r}; fields are {', '.join(FIELDS)}")
    if not any(caption.get(k) for k in DESCRIPTIONS):
        raise ValueError("structured caption: needs a 'Short Description' or a 'Dense Description'")
    return caption


def caption_prompt(caption: dict) -> str:
    """The plain prompt a structured caption stands for: its dense description, else its short one."""
    return str(caption.get("Dense Description") or caption.get("Short Description") or "")


def _value(v) -> str:
    text = ", ".join(str(x) for x in v) if isinstance(v, (list, tuple)) else str(v)
    return text.strip().rstrip(".")


def _render(caption: dict, keys: list[str], anchor: str | None) -> str:
    parts = []
    for key in keys:
        label = key[0] + key[1:].lower()  # "Camera Movement" -> "Camera movement"
        parts.append(_value(caption[key]) + "." if key == anchor else f"{label}: {_value(caption[key])}.")
    return " ".join(parts)


def caption_variant(caption: dict, rng, dropout: float = 0.5) -> str:
    """One training caption from a structured caption (see the module docstring). `rng` is a numpy
    Generator or an int seed."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    have = [k for k in DESCRIPTIONS if caption.get(k)]
    # Keep one description always, so every variant still says what is in the clip.
    anchor = (
        have[0] if len(have) == 1 else ("Short Description" if rng.random() < 0.5 else "Dense Description")
    )
    keys = [k for k in FIELDS if caption.get(k) and (k == anchor or rng.random() >= dropout)]
    order = rng.permutation(len(keys))
    return _render(caption, [keys[int(i)] for i in order], anchor)


def caption_variants(caption: dict, n: int, dropout: float, seed: int, key: str = "") -> list[str]:
    """n training captions, deterministic per (seed, key): the first has every field in schema order, the
    others are `caption_variant`s."""
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    anchor = next((k for k in DESCRIPTIONS if caption.get(k)), None)
    full = _render(caption, [k for k in FIELDS if caption.get(k)], anchor)
    return [full] + [caption_variant(caption, rng, dropout) for _ in range(max(0, n - 1))]
