"""The built-in offline rewriter: the demo world's vocabulary, in English or Chinese, to its caption forms.

It finds colour, shape, motion, background and camera words (longest match first, so 粉红色 is pink, not
red, and "black background" is a background, not an object colour), groups them into at most two objects,
and writes the canonical caption of `vitascope.synthetic.captions`:
    一个红色的圆向右移动  ->  a red circle moving right on a black background
Colours outside the demo palette (purple, orange, ...) are kept, so a LoRA's new colour survives. Missing
parts get the world's defaults: white object, staying still, black background, static camera. A prompt with
no shape word is not understood: `OfflineRewriter` raises RewriteError and the caller keeps the prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vitascope.rewrite.errors import RewriteError
from vitascope.synthetic import captions as _captions
from vitascope.synthetic.captions import STRUCTURED_KEYS

# English word (regex) or Chinese term -> canonical value, per kind
COLOURS = {
    "red": ["red", "红色", "红"], "green": ["green", "绿色", "绿"], "blue": ["blue", "蓝色", "蓝"],
    "yellow": ["yellow", "黄色", "黄"], "white": ["white", "白色", "白"], "black": ["black", "黑色", "黑"],
    "gray": ["gr[ae]y", "灰色", "灰"], "purple": ["purple", "violet", "紫色", "紫"],
    "orange": ["orange", "橙色", "橘色", "橙"], "pink": ["pink", "粉红色", "粉色", "粉红"],
    "cyan": ["cyan", "青色"], "magenta": ["magenta", "品红色", "品红"], "brown": ["brown", "棕色", "褐色"],
}  # fmt: skip
SHAPES = {
    "circle": ["circles?", "discs?", "disks?", "balls?", "rings?", "round shape", "圆形", "圆圈", "圆球", "圆", "球"],
    "square": ["squares?", "box(?:es)?", "blocks?", "cubes?", "rectangles?", "正方形", "方形", "方块", "矩形"],
    "triangle": ["triangles?", "三角形", "三角"],
}  # fmt: skip
MOTIONS = {
    "moving right": [r"(?:to (?:the )?)?right(?:wards?)?", "向右", "往右", "朝右", "右移"],
    "moving left": [r"(?:to (?:the )?)?left(?:wards?)?", "向左", "往左", "朝左", "左移"],
    "moving up": [r"up(?:wards?)?", r"ris(?:es|ing|e)", r"ascend(?:s|ing)?", "向上", "往上", "朝上", "上升", "升起", "上移"],
    "moving down": [r"down(?:wards?)?", r"fall(?:s|ing)?", r"sink(?:s|ing)?", r"drop(?:s|ping)?",
                    r"descend(?:s|ing)?", "向下", "往下", "朝下", "下落", "下降", "落下", "下移", "掉落"],
    "staying still": [r"(?:stays?|staying|stands?|standing|sits?|sitting) still", r"still", r"stationary",
                      r"motionless", r"not moving", r"does not move", "静止", "不动", "停住", "停着"],
}  # fmt: skip
CAMERAS = {
    "panning left": [r"pan(?:s|ning|ned)? (?:to (?:the )?)?left", "镜头向左", "镜头左移", "向左平移", "向左摇", "左摇"],
    "panning right": [r"pan(?:s|ning|ned)? (?:to (?:the )?)?right", "镜头向右", "镜头右移", "向右平移", "向右摇", "右摇"],
    "zooming in": [r"zoom(?:s|ing|ed)? in", "推近", "拉近", "镜头推进", "放大"],
    "zooming out": [r"zoom(?:s|ing|ed)? out", "拉远", "镜头拉远", "缩小"],
    "static": [r"(?:static|still|fixed|locked) camera", r"camera (?:is |stays |staying )?(?:static|still|fixed)",
               "镜头固定", "固定镜头", "镜头不动"],
}  # fmt: skip
TEXTURES = {
    "checkered": [r"check(?:er(?:ed|board)?|ered)", r"chequered", "棋盘格", "棋盘", "格子", "方格"],
    "dotted": [r"dotted", r"polka[- ]dots?", r"dots", "圆点", "波点", "点点"],
}
# The sentences the world's structured captions use (one vocabulary for the world and the rewriter).
_BG_TEXT, _PATH, _CAMERA_SHOT = _captions._BACKGROUND_TEXT, _captions._PATH, _captions._CAMERA_SHOT


def _is_zh(term: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in term)


def _pattern(term: str) -> str:
    return re.escape(term) if _is_zh(term) else rf"\b{term}\b"


def _background_terms() -> dict[str, list[str]]:
    """'black background', 'background is black', '黑色背景', '背景是黑色', '黑底', and textures alone."""
    out: dict[str, list[str]] = {}
    for value, terms in {**COLOURS, **TEXTURES}.items():
        pats = []
        for t in terms:
            if _is_zh(t):
                pats += [re.escape(t) + "(?:的)?(?:背景|底色|底)", "背景(?:是|为)?" + re.escape(t)]
            else:
                pats += [rf"\b{t}(?: \w+)? (?:background|backdrop)s?\b", rf"\bbackground (?:is |of )?{t}\b"]
        if value in TEXTURES:
            pats += [_pattern(t) for t in terms]
        out[value] = pats
    return out


@dataclass
class _Object:
    colour: str | None = None
    shape: str | None = None
    motion: str | None = None


@dataclass
class ParsedScene:
    objects: list[_Object] = field(default_factory=list)
    background: str = "black"
    camera: str = "static"


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, value) of every vocabulary match, left to right, longest match first where they overlap."""
    table = [("background", v, p) for v, ps in _background_terms().items() for p in ps]
    for kind, vocab in (("camera", CAMERAS), ("colour", COLOURS), ("shape", SHAPES), ("motion", MOTIONS)):
        table += [(kind, v, _pattern(t)) for v, ts in vocab.items() for t in ts]
    hits = []
    for kind, value, pat in table:
        hits += [(m.start(), m.end(), kind, value) for m in re.finditer(pat, text)]
    hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
    out, end = [], -1
    for start, stop, kind, value in hits:
        if start >= end:
            out.append((kind, value))
            end = stop
    return out


def parse_free_text(prompt: str) -> ParsedScene:
    text = " ".join(str(prompt).lower().replace("-", " ").split())
    scene, current = ParsedScene(), _Object()
    objects = [current]
    for kind, value in _tokens(text):
        if kind in ("background", "camera"):
            setattr(scene, kind, value)
            continue
        attr = kind
        if getattr(current, attr) is not None:  # this slot is taken: the word starts the next object
            current = _Object()
            objects.append(current)
        setattr(current, attr, value)
    scene.objects = [o for o in objects if o.shape is not None][:2]
    if not scene.objects:
        raise RewriteError(f"the offline rewriter found no shape (circle, square, triangle) in {prompt!r}")
    for o in scene.objects:
        o.colour, o.motion = o.colour or "white", o.motion or "staying still"
    return scene


def canonical(scene: ParsedScene) -> str:
    text = " and ".join(f"a {o.colour} {o.shape} {o.motion}" for o in scene.objects)
    text += f" on a {scene.background} background"
    return text + ("" if scene.camera == "static" else f", camera {scene.camera}")


def structured(scene: ParsedScene) -> dict:
    """The training schema (STRUCTURED_KEYS) for a parsed scene, worded as `structured_caption` words it."""
    short = canonical(scene)
    dense = " ".join(f"A {o.colour} {o.shape} {_PATH[o.motion]}." for o in scene.objects)
    still = all(o.motion == "staying still" for o in scene.objects) and scene.camera == "static"
    tags = ["synthetic", scene.background + " background", scene.camera + " camera"]
    for o in scene.objects:
        tags += [o.colour, o.shape, o.motion]
    fields = {
        "short_description": short[0].upper() + short[1:] + ".",
        "dense_description": dense
        + f" The background is {scene.background}. "
        + ("The camera stays still." if scene.camera == "static" else f"The camera is {scene.camera}."),
        "background": _BG_TEXT.get(scene.background, f"A plain {scene.background} backdrop."),
        "style": "Flat 2D computer graphics with simple geometric shapes.",
        "shot_type": ("Wide shot" if len(scene.objects) > 1 else "Medium shot") + ", front view",
        "lighting": "Flat, even lighting without shadows.",
        "atmosphere": "Calm and minimal." if still else "Simple and lively.",
        "camera_movement": _CAMERA_SHOT[scene.camera],
        "tags": tags,
    }
    return {k: fields[k] for k in STRUCTURED_KEYS}
