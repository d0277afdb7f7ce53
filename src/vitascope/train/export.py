"""Assemble a model folder (vitascope layout) from a finished DiT run: its EMA transformer, the VAE it was
trained on, and the frozen text encoders it saw, so generation loads exactly what training used."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from vitascope.train.recipes import Recipe

log = logging.getLogger(__name__)


def assemble_model_folder(
    dit_run: str | Path,
    recipe: Recipe,
    target: str | Path,
    run_root: str | Path,
    trained_steps: int | None = None,
) -> Path:
    """Write `target` (replacing it only once the new folder is complete). trained_steps: the DiT steps
    actually run (a run stopped by a time budget), default the recipe's total."""
    from vitascope.models.vae import load_vae
    from vitascope.pipelines.save import save_vitascope_folder
    from vitascope.train.checkpoint import run_folder
    from vitascope.train.dit_task import load_dit, text_folder

    dit_run, target, run_root = Path(dit_run), Path(target), Path(run_root)
    dit = load_dit(dit_run / "export" / "transformer")
    # The folder's VAE: a decoder fine-tuned after the DiT's latents were encoded, when the recipe names one.
    candidates = [recipe.extras.get("final_vae"), recipe.vae_from]
    found = [run_folder(name, run_root, "export", "vae") for name in candidates if name]
    vae_dir = next((d for d in found if d.exists()), found[-1])
    vae = load_vae(vae_dir)
    text_root = text_folder(recipe, dit_run, run_root)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for sub in ("text_encoder", "text_encoder_2"):
        shutil.copytree(text_root / sub, tmp / sub)
    defaults = recipe.extras.get("defaults", {})
    save_vitascope_folder(
        tmp,
        dit,
        vae,
        name=recipe.extras.get("model_name", recipe.name),
        defaults=defaults,
        text={
            "template": "dit-llm-encode-video",
            "max_length": recipe.text_len,
            "hidden_state_skip_layer": 2,
        },
        i2v_mode=recipe.dit.image_condition_type,
        extra={
            "recipe": recipe.extras.get("recorded_recipe", recipe.name),
            "trained_steps": recipe.total_steps if trained_steps is None else int(trained_steps),
        },
    )
    if target.exists():
        old = target.with_name(f".{target.name}.old{os.getpid()}")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)
    log.info("assembled model folder %s", target)
    return target
