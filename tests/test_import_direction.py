"""STYLE.md's one-way imports, checked on the source: io <- nn <- models <- convert <- pipelines <- serve <- cli;
io, devices and flow need only torch; train may use models, flow, data, parallel, io and convert (not
pipelines, except the known uses listed below); nothing imports cli; parallel is never imported by models."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "vitascope"

# area -> areas of vitascope it must not import
_ALL = {"nn", "flow", "models", "convert", "pipelines", "serve", "cli", "train", "curate", "parallel", "data"}
FORBIDDEN = {
    "io": _ALL | {"synthetic", "media", "devices", "specs"},
    "devices": _ALL | {"io", "synthetic", "media", "specs"},
    "nn": {"models", "pipelines", "serve", "cli", "train", "curate", "parallel", "data", "convert"},
    "flow": {"nn", "models", "pipelines", "serve", "cli", "train", "curate", "parallel", "data", "convert"},
    "models": {"pipelines", "serve", "cli", "train", "curate", "parallel", "data", "convert"},
    "convert": {"pipelines", "serve", "cli", "train", "curate", "data", "media"},
    "pipelines": {"serve", "cli", "train", "curate"},
    "serve": {"cli", "train", "curate"},
    "synthetic": {"pipelines", "serve", "cli", "train", "curate"},
    "curate": {"serve", "cli", "train"},
    # train writes and reads model folders and LoRA files through convert (below pipelines), never pipelines
    "train": {"serve", "cli", "curate", "pipelines"},
}
# Imports against the rules above that are known and have an owner; each entry names why it is still there.
KNOWN = {
    (
        "train/eval_command.py",
        "vitascope.pipelines.loader",
    ): "`vitascope eval` measures the generation pipeline",
    ("train/evaluate.py", "vitascope.pipelines.options"): "eval builds GenerationOptions for the pipeline",
    ("train/eval_long.py", "vitascope.pipelines.options"): "the long-video eval builds GenerationOptions",
    ("train/eval_pose.py", "vitascope.pipelines.options"): "the pose eval builds GenerationOptions",
    ("train/eval_command.py", "vitascope.pipelines.pose"): "`vitascope eval --task pose` needs a pose model",
    (
        "train/options.py",
        "vitascope.pipelines.options",
    ): "a recipe's model defaults are checked against ModelDefaults",
    ("train/lora_task.py", "vitascope.pipelines.loader"): "LoRA previews generate with the pipeline",
    (
        "train/lora_preserve.py",
        "vitascope.pipelines.options",
    ): "prior preservation generates the base model's own clips with its pipeline",
    (
        "train/eval_command.py",
        "vitascope.pipelines.avatar_eval",
    ): "`vitascope eval --task avatar` runs the Avatar pipeline",
}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def test_imports_point_one_way():
    bad = []
    for area, forbidden in FORBIDDEN.items():
        paths = [SRC / f"{area}.py"] if (SRC / f"{area}.py").exists() else (SRC / area).rglob("*.py")
        for path in paths:
            for mod in _imports(path):
                parts = mod.split(".")
                rel = str(path.relative_to(SRC))
                if (
                    parts[0] == "vitascope"
                    and len(parts) > 1
                    and parts[1] in forbidden
                    and (rel, mod) not in KNOWN
                ):
                    bad.append(f"{rel} imports {mod}")
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_nothing_imports_cli_and_library_does_not_print():
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        for mod in _imports(path):
            if mod == "vitascope.cli" and rel.name != "cli.py":
                offenders.append(f"{rel} imports vitascope.cli")
    assert not offenders, offenders


def test_torch_load_is_weights_only():
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", "") == "load"
                and getattr(getattr(node.func, "value", None), "id", "") == "torch"
            ):
                kw = {k.arg: k.value for k in node.keywords}
                assert "weights_only" in kw and getattr(kw["weights_only"], "value", None) is True, (
                    f"{path.relative_to(SRC)}:{node.lineno} calls torch.load without weights_only=True"
                )
