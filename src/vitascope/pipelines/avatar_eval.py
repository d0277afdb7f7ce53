"""`vitascope eval --task avatar`: generate the held-out cases of `synthetic.faces.avatar_eval` with an Avatar
model folder and score them (figures, targets and cases are described there and in docs/avatar.md)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from vitascope.synthetic.faces.avatar_eval import (
    TARGETS,
    AvatarCase,
    avatar_cases,
    avatar_table,
    clip_table,
    long_case,
    score_clip,
    summarize,
)

log = logging.getLogger(__name__)


def generate_case(pipe, case: AvatarCase, image_size: int, steps=None, emotion=None, out_dir=None):
    """Run the Avatar pipeline on one case: (frames uint8 [F, H, W, 3], the photo as the model saw it)."""
    from vitascope.models.audio.reference import resize_reference
    from vitascope.pipelines.avatar import AvatarOptions
    from vitascope.pipelines.avatar_output import write_avatar_mp4

    audio = case.tracks[0] if len(case.tracks) == 1 else list(case.tracks)
    given = {
        k: v for k, v in model_defaults(pipe).items() if k in ("cfg_scale", "flow_shift", "negative_prompt")
    }
    if steps:
        given["steps"] = steps
    opts = AvatarOptions(
        image=case.photo, audio=audio, seed=case.seed, image_size=image_size, emotion=emotion, **given
    )
    result = pipe.generate(opts)
    frames = np.concatenate(list(pipe.decode_chunks(result.latents, result.frames)))
    if out_dir is not None:
        write_avatar_mp4([frames], result.samples, Path(out_dir) / f"{case.name}.mp4", fps=result.fps)
    return frames, resize_reference(case.photo, image_size), result.fps


def run_avatar_eval(
    pipe, clips: int, seed: int, seconds: float, image_size: int, steps=None, emotion=None,
    long_seconds: float = 0.0, out_dir=None,
) -> tuple[list[dict], dict | None]:  # fmt: skip
    """Generate and score every case (and the long clip when long_seconds > 0): (rows, long row)."""
    if emotion is not None and not getattr(pipe.dit, "has_emotion", False):
        from vitascope.errors import InvalidOptionError

        raise InvalidOptionError("--emotion: this Avatar model has no emotion module (emotion_in.* weights)")
    rows = []
    for i, case in enumerate(avatar_cases(clips, seed, seconds, image_size)):
        want = case_emotion(emotion, i)
        frames, photo, fps = generate_case(pipe, case, image_size, steps, want, out_dir)
        rows.append(score_clip(frames, photo, case, fps, want))
        log.info("avatar eval %s: %s", case.name, rows[-1])
    long_row = None
    if long_seconds > 0:
        case = long_case(seed, long_seconds, image_size)
        want = case_emotion(emotion, clips)
        frames, photo, fps = generate_case(pipe, case, image_size, steps, want, out_dir)
        long_row = score_clip(frames, photo, case, fps, want)
    return rows, long_row


def case_emotion(emotion: str | None, i: int) -> str | None:
    """The expression asked of case i: `emotion`, or with "all" the bundled ones in turn (happy first)."""
    if emotion != "all":
        return emotion
    from vitascope.pipelines.avatar_inputs import EMOTIONS

    order = [e for e in EMOTIONS if e != "neutral"] + ["neutral"]
    return order[i % len(order)]


def model_defaults(pipe) -> dict:
    """The model folder's generation defaults (image_size, steps, cfg_scale, ...) when it states any."""
    defaults = getattr(pipe, "defaults", None)
    return {k: v for k, v in defaults.items() if v is not None} if isinstance(defaults, dict) else {}


def _avatar_model(model):
    """--model, or the bundled avatar demo model when this install has one."""
    from vitascope.errors import ModelFolderError

    if model is not None:
        return model
    try:
        from vitascope.pipelines.avatar_loader import avatar_demo_folder  # the bundled demo, when shipped
    except ImportError:
        avatar_demo_folder = None
    folder = avatar_demo_folder() if avatar_demo_folder else None
    if folder is None or not Path(folder).is_dir():
        raise ModelFolderError("--task avatar needs --model AVATAR_FOLDER (no bundled avatar model found)")
    return folder


def avatar_eval_command(model, clips, seed, seconds, long_seconds, emotion, image_size, steps, out) -> None:
    """The CLI's `eval --task avatar`: check the options, load, run, write results JSON and the tables."""
    import json

    import typer

    from vitascope.errors import InvalidOptionError
    from vitascope.io.files import write_text_atomic
    from vitascope.pipelines.avatar_inputs import check_emotion
    from vitascope.pipelines.avatar_loader import load_avatar_pipeline

    if clips < 1:
        raise InvalidOptionError(f"--clips must be >= 1, got {clips}")
    if not 0.5 <= seconds <= 600:
        raise InvalidOptionError(f"--seconds must be between 0.5 and 600, got {seconds}")
    if long_seconds and not 2.0 <= long_seconds <= 600:
        raise InvalidOptionError(f"--long-seconds must be 0 or between 2 and 600, got {long_seconds}")
    if image_size is not None and (image_size < 64 or image_size % 64):
        raise InvalidOptionError(f"--image-size must be a multiple of 64, got {image_size}")
    if emotion != "all":
        check_emotion(emotion, None)
    pipe = load_avatar_pipeline(_avatar_model(model))
    defaults = model_defaults(pipe)
    image_size = int(image_size or defaults.get("image_size") or 64)
    steps = steps or defaults.get("steps")
    out = Path(out)
    clips_dir = out / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    rows, long_row = run_avatar_eval(
        pipe, clips, seed, seconds, image_size, steps, emotion, long_seconds, out_dir=clips_dir
    )
    summary = summarize(rows, long_row)
    report = {
        "model": pipe.identity,
        "seed": seed,
        "seconds": seconds,
        "image_size": image_size,
        "emotion": emotion,
        "cases": "held out: evaluator-style drawn faces and unseen world seeds (docs/avatar.md)",
        "targets": {k: {"cmp": c, "value": v} for k, (c, v) in TARGETS.items()},
        "summary": summary,
        "clips": rows,
        "long": long_row,
    }
    write_text_atomic(out / "avatar_results.json", json.dumps(_clean(report), indent=1))
    table = avatar_table(summary)
    write_text_atomic(out / "avatar_table.md", table + "\n" + clip_table(rows))
    typer.echo(clip_table(rows))
    typer.echo(table)
    typer.echo(f"details: {out / 'avatar_results.json'}; clips: {clips_dir}")


def _clean(v):
    """JSON-safe: numpy scalars as Python values, NaN and infinities as None (not measured)."""
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
