"""System prompts for the language-model backends (our own wording, after the structure of the paper's
rewriter: keep every fact the user gave, translate to English, put it in the order the model was trained on).

Modes:
- normal: restate the request as one plain English description, adding only what is needed to film it;
- master: the same, plus composition, lighting and camera work (may trade a little literal detail for look);
- structured: fill the training caption schema (`vitascope.synthetic.captions.STRUCTURED_KEYS`) as JSON.
"""

from __future__ import annotations

import json

from vitascope.synthetic.captions import STRUCTURED_KEYS

MODES = ("normal", "master", "structured")

_COMMON = """You turn a user's request for a short video into the description a text-to-video model was \
trained on.
Rules:
1. Keep every subject, colour, shape, count, action, direction, place and style word the user gave. \
Never drop or contradict one, and never add new subjects.
2. Whatever language the request is in, answer in English.
3. Order: the main subject and what it looks like, then what it does from start to end, then the \
surroundings, then the camera.
4. Describe only what can be seen. No feelings, no story, no quality boasts.
5. If the request is only a word or two, widen it into one short visual sentence.
Reply with the description only: no preface, no quotes, no notes."""

_NORMAL = (
    _COMMON
    + """
Keep it to one or two sentences in plain words."""
)

_MASTER = (
    _COMMON
    + """
Then add, in a few words each, the framing (shot size and where the subject sits in the frame), the light \
(source, direction, softness) and the camera (still, pan, tilt, zoom, tracking). Keep it under 80 words."""
)

_STRUCTURED = (
    _COMMON.rsplit("Reply with", 1)[0]
    + "Reply with one JSON object and nothing else. Its keys, all strings except tags (a list of short "
    "strings): "
    + ", ".join(STRUCTURED_KEYS)
    + ". Short Description is one sentence; Dense Description says what happens from start to end; "
    "Shot Type, Lighting and Camera Movement are a few words each."
)

SYSTEM_PROMPTS = {"normal": _NORMAL, "master": _MASTER, "structured": _STRUCTURED}


def messages(prompt: str, mode: str) -> list[dict[str, str]]:
    """OpenAI-style chat messages for one rewrite."""
    return [
        {"role": "system", "content": SYSTEM_PROMPTS[mode]},
        {"role": "user", "content": f"Request: {prompt}"},
    ]


def clean_reply(text: str) -> str:
    """Strip a reasoning block (anything up to `</think>`), code fences, quotes and spaces."""
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    text = text.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text.split("\n", 1)[1] if "\n" in text else text
        text = text.strip("`").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def structured_from_reply(text: str) -> dict:
    """The JSON object of a structured reply; raises ValueError if there is none or keys are missing."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("the reply holds no JSON object")
    obj = json.loads(text[start : end + 1])
    if not isinstance(obj, dict) or not str(obj.get("Short Description", "")).strip():
        raise ValueError("the JSON reply has no Short Description")
    return {k: obj[k] for k in STRUCTURED_KEYS if k in obj}


def render_structured(fields: dict) -> str:
    """The prompt text of a structured caption: the short description, then `Label: value.` per field, in
    schema order (the form `caption_variants` trains on, with every field kept)."""
    parts = [str(fields["Short Description"]).rstrip(".") + "."]
    for key in STRUCTURED_KEYS[1:]:
        if key not in fields:
            continue
        value = fields[key]
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        parts.append(f"{key.replace('_', ' ').capitalize()}: {str(value).rstrip('.')}.")
    return " ".join(parts)
