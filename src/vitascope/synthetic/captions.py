"""Captions of a scene: the canonical sentence, the paper's structured JSON, and training variants.

Canonical form (what users and the evaluator type):
    a {colour} {shape} {motion}[ and a {colour} {shape} {motion}] on a {background} background[, camera {move}]
The camera clause appears only when the camera moves, so every canonical prompt of a static shot is exactly
`a red circle moving right on a black background`.

Structured captions follow the paper's schema (§2.2.1: short and dense description, background, style, shot
type, lighting, atmosphere, camera movement, metadata tags), the one schema of `vitascope.captions` that
curation writes too; `caption_variant` there drops and permutes fields the way the paper does to keep the
text encoder from overfitting one caption style.
"""

from __future__ import annotations

import re

from vitascope.captions import FIELDS, caption_variant
from vitascope.errors import InvalidOptionError
from vitascope.synthetic.world import BACKGROUNDS, CAMERAS, COLOURS, MOTIONS, SHAPES, SceneSpec

# Long paths (world.LONG_PATHS) add a clause after the motion: `a red circle moving right and bouncing off
# the edges on a black background`. Straight paths (the default world) say nothing more.
PATH_PHRASES = {
    "bounce": "bouncing off the edges",
    "wrap": "wrapping around",
    "stop and go": "stopping and starting",
}
_PATH_SENTENCES = {
    "bounce": "It keeps going, turning back each time it reaches an edge of the frame.",
    "wrap": "It keeps going: leaving one side of the frame, it comes back in at the opposite side.",
    "stop and go": "It moves and rests in turns, turning back at the edges of the frame.",
}

STRUCTURED_KEYS = FIELDS  # the shared schema (vitascope.captions)
_CAMERA_SHOT = {
    "static": "Static shot",
    "panning left": "Pan left",
    "panning right": "Pan right",
    "zooming in": "Zoom in",
    "zooming out": "Zoom out",
}
_BACKGROUND_TEXT = {
    "black": "A plain black backdrop.",
    "white": "A plain white backdrop.",
    "gray": "A plain mid-gray backdrop.",
    "blue": "A plain dark blue backdrop.",
    "checkered": "A dark gray checkerboard pattern.",
    "dotted": "A dark backdrop with a regular grid of gray dots.",
}
_PATH = {
    "moving left": "glides from the right side of the frame towards the left",
    "moving right": "glides from the left side of the frame towards the right",
    "moving up": "rises from the lower part of the frame towards the top",
    "moving down": "sinks from the upper part of the frame towards the bottom",
    "staying still": "stays in place",
}


def _object_phrase(obj) -> str:
    if obj.path in PATH_PHRASES:
        return f"a {obj.colour} {obj.shape} {obj.motion} and {PATH_PHRASES[obj.path]}"
    return f"a {obj.colour} {obj.shape} {obj.motion}"


def canonical_caption(spec: SceneSpec) -> str:
    """`a red circle moving right on a black background` (+ `, camera panning left` when the camera moves)."""
    text = " and ".join(_object_phrase(o) for o in spec.objects) + f" on a {spec.background} background"
    if spec.camera != "static":
        text += f", camera {spec.camera}"
    return text


def _where(x: float, y: float) -> str:
    horiz = "left" if x < 0.4 else "right" if x > 0.6 else "centre"
    vert = "upper" if y < 0.4 else "lower" if y > 0.6 else "middle"
    return "centre" if (horiz, vert) == ("centre", "middle") else f"{vert} {horiz}".replace("middle ", "")


def structured_caption(spec: SceneSpec) -> dict:
    """The paper's structured caption of the scene as a JSON-ready dict (keys: STRUCTURED_KEYS)."""
    sentences = []
    for obj in spec.objects:
        size = "small" if obj.size < 0.11 else "medium-sized"
        start = _where(*obj.start_xy)
        sentences.append(f"A {size} {obj.colour} {obj.shape} starting near the {start} {_PATH[obj.motion]}.")
        if obj.path in _PATH_SENTENCES:
            sentences.append(_PATH_SENTENCES[obj.path])
    camera = {
        "static": "The camera stays still.",
        "panning left": "The camera pans slowly to the left.",
        "panning right": "The camera pans slowly to the right.",
        "zooming in": "The camera zooms in towards the centre.",
        "zooming out": "The camera zooms out from the centre.",
    }[spec.camera]
    still = all(o.motion == "staying still" for o in spec.objects) and spec.camera == "static"
    short = canonical_caption(spec)
    tags = ["synthetic", spec.background + " background", spec.camera + " camera"]
    for obj in spec.objects:
        tags += [obj.colour, obj.shape, obj.motion] + (
            [PATH_PHRASES[obj.path]] if obj.path in PATH_PHRASES else []
        )
    tags += [
        "source: vitascope.synthetic",
        f"frames: {spec.frames}",
        f"resolution: {spec.width}x{spec.height}",
    ]
    return {
        "Short Description": short[0].upper() + short[1:] + ".",
        "Dense Description": " ".join(sentences) + f" The background is {spec.background}. {camera}",
        "Background": _BACKGROUND_TEXT[spec.background],
        "Style": "Flat 2D computer graphics with simple geometric shapes.",
        "Shot Type": ("Wide shot" if len(spec.objects) > 1 else "Medium shot") + ", front view",
        "Lighting": "Flat, even lighting without shadows.",
        "Atmosphere": "Calm and minimal." if still else "Simple and lively.",
        "Camera Movement": _CAMERA_SHOT[spec.camera],
        "Metadata Tags": tags,
    }


def caption_variants(structured: dict, rng) -> str:
    """One training caption from a structured caption (`vitascope.captions.caption_variant`, fields dropped
    with probability 0.5 and shuffled). `rng` is a numpy Generator or an int seed."""
    return caption_variant(structured, rng, 0.5)


_ARTICLE = r"an?"
_WORD = r"([a-z]+)"


def _vocab_message() -> str:
    return (
        "expected 'a {colour} {shape} {motion} on a {background} background' (optionally ' and a {colour} "
        "{shape} {motion}' before ' on', and ', camera {move}' at the end; a motion may end in ' and "
        f"{{{', '.join(PATH_PHRASES.values())}}}') with colour in "
        f"{{{', '.join(COLOURS)}}}, shape in {{{', '.join(SHAPES)}}}, motion in {{{', '.join(MOTIONS)}}}, "
        f"background in {{{', '.join(BACKGROUNDS)}}}, camera move in {{{', '.join(CAMERAS[1:])}}}"
    )


_PATH_WORDS = "|".join(re.escape(p) for p in PATH_PHRASES.values())
_OBJECT = rf"{_ARTICLE} {_WORD} {_WORD} ((?:moving|staying) [a-z]+)(?: and ({_PATH_WORDS}))?"
_PATTERN = re.compile(
    rf"^{_OBJECT}(?: and {_OBJECT})?(?: and {_OBJECT})? on {_ARTICLE} {_WORD} background(?:,? (?:with )?(?:the )?camera ([a-z]+ [a-z]+))?$"
)


def parse_canonical(prompt: str) -> dict:
    """Parse a canonical prompt back into its fields.

    Returns {colour, shape, motion, background, camera, objects: [{colour, shape, motion}, ...]} where the
    top-level colour/shape/motion are those of the first object. Raises InvalidOptionError (a ValueError)
    naming the unknown word, or the expected form when the sentence does not match it.
    """
    text = " ".join(str(prompt).lower().replace(".", " ").split())
    match = _PATTERN.match(text)
    if match is None:
        raise InvalidOptionError(f"cannot parse {prompt!r}: {_vocab_message()}")
    g = match.groups()
    by_phrase = {phrase: path for path, phrase in PATH_PHRASES.items()}
    objects = []
    for colour, shape, motion, phrase in (g[0:4], g[4:8], g[8:12]):
        if colour is None:
            continue
        objects.append({"colour": colour, "shape": shape, "motion": motion})
        if phrase is not None:  # only long paths carry the key: default prompts parse as they always did
            objects[-1]["path"] = by_phrase[phrase]
    background, camera = g[12], g[13] or "static"
    for obj in objects:
        for key, allowed in (("colour", COLOURS), ("shape", SHAPES), ("motion", MOTIONS)):
            if obj[key] not in allowed:
                raise InvalidOptionError(
                    f"unknown {key} {obj[key]!r} in {prompt!r}; choose one of: {', '.join(allowed)}"
                )
    if background not in BACKGROUNDS:
        raise InvalidOptionError(
            f"unknown background {background!r} in {prompt!r}; choose one of: {', '.join(BACKGROUNDS)}"
        )
    if camera not in CAMERAS:
        raise InvalidOptionError(
            f"unknown camera move {camera!r} in {prompt!r}; choose one of: {', '.join(CAMERAS)}"
        )
    return {**objects[0], "background": background, "camera": camera, "objects": objects}


def world_prompts(n: int = 64, seed: int = 0) -> list[str]:
    """Canonical captions of `n` scenes the world draws at random: prompts a model trained on it knows (a
    model folder's prompts.txt, which LoRA training keeps drawing right: train/lora_preserve.py)."""
    from vitascope.synthetic.world import sample_scene

    return [canonical_caption(sample_scene(seed * 100_003 + i)) for i in range(n)]
