"""`vitascope inspect`: what a model folder or a checkpoint file holds, and whether it fits its variant.

Only shapes and dtypes are read (tensors on the meta device), so inspecting a 25 GB checkpoint takes seconds
and no memory. The expected keys come from the variant's own class, built on meta; a variant that is
recognised but whose class is not installed (the Avatar, until it lands) is checked on its base DiT keys and
its own modules are counted separately.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vitascope.convert.folder import detect_folder
from vitascope.convert.loader import config_error, dit_config, is_diffusers_state, shapes_of, to_tencent_names
from vitascope.errors import VitascopeError
from vitascope.io.weights import KeyReport, compare_keys, read_state_dict
from vitascope.models.dit.config import DiTConfig
from vitascope.models.dit.variants import DiTVariant, detect_variant


@dataclass
class Inspection:
    path: Path
    layout: str = "unknown"
    weights: Path | None = None
    weights_key: str | None = None
    variant: DiTVariant | None = None
    config: DiTConfig | None = None
    params: int = 0
    dtypes: dict[str, int] = field(default_factory=dict)  # dtype name -> number of parameters
    report: KeyReport | None = None
    unchecked: int = 0  # tensors of a variant whose class is not installed
    parts: dict[str, Path | None] = field(default_factory=dict)
    missing_parts: tuple[str, ...] = ()
    fp8: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.missing_parts and self.report is not None and self.report.ok

    def lines(self, limit: int = 20) -> list[str]:
        out = [f"path:       {self.path}", f"layout:     {self.layout}"]
        if self.weights is not None:
            key = f" [{self.weights_key}]" if self.weights_key else ""
            out.append(f"weights:    {self.weights}{key}")
        if self.variant is not None:
            out.append(f"variant:    {self.variant.name} ({self.variant.description})")
        if self.config is not None:
            c = self.config
            out.append(
                f"config:     hidden {c.hidden_size}, {c.heads_num} heads, {c.mm_double_blocks_depth} double + "
                f"{c.mm_single_blocks_depth} single blocks, {c.in_channels}->{c.out_channels} channels, "
                f"guidance embedding {'yes' if c.guidance_embed else 'no'}"
            )
        if self.params:
            kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(self.dtypes.items()))
            out += [f"parameters: {self.params:,}", f"dtypes:     {kinds}"]
        if self.fp8:
            out.append(f"fp8:        {self.fp8}")
        for name, p in self.parts.items():
            out.append(f"{name + ':':<11} {p if p is not None else 'MISSING'}")
        out += [f"missing:    {m}" for m in self.missing_parts]
        if self.report is not None:
            out += _key_lines(self.report, limit)
        if self.unchecked:
            out.append(
                f"not checked: {self.unchecked} tensors of the {self.variant.name} modules (class not installed)"
            )
        out += [f"problem:    {p}" for p in self.problems]
        return out


def _key_lines(report: KeyReport, limit: int) -> list[str]:
    if report.ok:
        return ["keys:       every key and shape fits the variant"]
    out = []
    for label, items in report.groups():
        out.append(f"{label} keys ({len(items)}):")
        out += [f"  {k}" for k in items[:limit]]
        if len(items) > limit:
            out.append(f"  ... and {len(items) - limit} more (--all lists them)")
    return out


def inspect_path(path: str | Path, weights_key: str | None = None) -> Inspection:
    """Inspect a model folder (any layout) or a single weights file; never raises for what it finds wrong."""
    path = Path(path).expanduser()
    ins = Inspection(path=path, weights_key=weights_key)
    try:
        if path.is_dir():
            folder = detect_folder(path, strict=False)
            ins.layout, ins.weights, ins.missing_parts = folder.layout, folder.transformer, folder.missing
            ins.parts = _parts(folder)
            if folder.transformer is None:
                return ins
            state = to_tencent_names(read_state_dict(folder.transformer, weights_key, meta=True))
            ins.config = dit_config(folder, state)
        else:
            ins.weights = path
            raw = read_state_dict(path, weights_key, meta=True)
            ins.layout = f"single file, {'diffusers' if is_diffusers_state(raw) else 'Tencent'} key names"
            state = to_tencent_names(raw)
            ins.config = _file_config(path, state)
        _check(ins, state)
    except VitascopeError as e:
        ins.problems.append(str(e))
    return ins


def _parts(folder) -> dict[str, Path | None]:
    parts = {"vae": folder.vae, "text": folder.text_encoder, "clip": folder.text_encoder_2}
    if folder.meta.get("release") == "avatar":
        parts.update(audio=folder.audio_encoder, face=folder.face_detector)
    return parts


def _file_config(path: Path, state: dict) -> DiTConfig:
    """A lone file's config: a config.json beside it (ours or diffusers'), else read off the shapes."""
    from vitascope.convert.diffusers_dit import config_from_diffusers
    from vitascope.convert.tencent import infer_dit_config

    cfg_file = path.parent / "config.json"
    cfg = json.loads(cfg_file.read_text()) if cfg_file.is_file() else None
    i2v = any("i2v" in p.name for p in path.parents)
    try:
        if cfg is not None and "_class_name" in cfg:
            return config_from_diffusers(cfg)
        if cfg is not None and "hidden_size" in cfg:
            return DiTConfig.from_dict(cfg)
        return infer_dit_config(state, i2v=i2v, overrides=cfg)
    except VitascopeError:
        raise
    except (ValueError, TypeError) as e:
        raise config_error(cfg_file if cfg is not None else path, e) from e


def _check(ins: Inspection, state: dict[str, torch.Tensor]) -> None:
    from vitascope.io.fp8 import has_fp8, scale_map_path

    ins.params = sum(v.numel() for v in state.values())
    counts: Counter = Counter()
    for v in state.values():
        counts[str(v.dtype).removeprefix("torch.")] += v.numel()
    ins.dtypes = dict(counts)
    if has_fp8(state):  # read_state_dict checked the map (it raises when the scales are missing)
        ins.fp8 = f"float8 weights, dequantized at load with the scales in {scale_map_path(ins.weights).name}"
    shapes = shapes_of(state)
    ins.variant = detect_variant(shapes, ins.config)
    with torch.device("meta"):
        build = ins.variant.builder()
        if build is not None:
            expected = build(ins.config, shapes).state_dict()
            ins.report = compare_keys(expected, state)
            return
        from vitascope.models.dit.model import HunyuanVideoDiT

        expected = HunyuanVideoDiT(ins.config).state_dict()
    own = {k for k in state if k.startswith(ins.variant.own_prefixes)}
    ins.unchecked = len(own)
    ins.report = compare_keys(expected, {k: v for k, v in state.items() if k not in own})
