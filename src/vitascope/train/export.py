"""Assemble a model folder (vitascope layout) from a finished DiT run: its EMA transformer, the VAE it was
trained on, and the frozen text encoders it saw, so generation loads exactly what training used.

Where the VAE and text encoders come from depends on the recipe's data:
    synthetic   the recipe's VAE run (or dit_options.final_vae) and the run's own text encoders
    shards      the VAE and encoders the curation's encode stage used (its latents/encoders.json)
    random      stand-ins: a seeded tiny VAE of the DiT's latent width and tiny text encoders. The weights
                the DiT learnt are real; the folder is for smoke runs (it loads and generates, noise).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path

import torch

from vitascope.errors import ModelFolderError
from vitascope.train.recipes import Recipe

log = logging.getLogger(__name__)


def _synthetic_sources(recipe: Recipe, dit_run: Path, run_root: Path) -> tuple[Path, Path, int]:
    from vitascope.train.checkpoint import run_folder
    from vitascope.train.dit_task import text_folder

    # The folder's VAE: a decoder fine-tuned after the DiT's latents were encoded, when the recipe names one.
    candidates = [recipe.dit_options.final_vae, recipe.vae_from]
    found = [run_folder(name, run_root, "export", "vae") for name in candidates if name]
    if not found:
        raise ModelFolderError(f"recipe {recipe.name!r} names no VAE (vae_from); no model folder to assemble")
    vae_dir = next((d for d in found if d.exists()), found[-1])
    return vae_dir, text_folder(recipe, dit_run, run_root), recipe.text_len


def _shard_sources(recipe: Recipe) -> tuple[Path, Path, int]:
    from vitascope.data.shards import read_encoders

    enc = read_encoders(recipe.shards)
    if not enc.get("vae_folder") or not enc.get("llm_folder") or not enc.get("clip_folder"):
        raise ModelFolderError(
            f"{recipe.shards}/encoders.json does not name the VAE, LLM and CLIP folders the shards were encoded "
            "with; the DiT weights are in the run's export/"
        )
    llm, clip = Path(enc["llm_folder"]), Path(enc["clip_folder"])
    text = llm.parent if llm.name == "text_encoder" and clip == llm.parent / "text_encoder_2" else None
    if text is None:
        raise ModelFolderError(
            f"the shards' text encoders ({llm}, {clip}) are not a model folder's text_encoder/ and "
            "text_encoder_2/; the DiT weights are in the run's export/"
        )
    return Path(enc["vae_folder"]), text, int(enc.get("max_length", recipe.text_len))


def _stand_ins(recipe: Recipe, dit, folder: Path):
    """Seeded tiny VAE (the DiT's latent width, 4x8x8) and tiny text encoders written into `folder`."""
    from vitascope.models.text.tiny import write_tiny_text_encoders
    from vitascope.models.vae import CausalVAE3D, VAEConfig

    write_tiny_text_encoders(folder, layout="tencent", seed=recipe.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        return CausalVAE3D(dataclasses.replace(VAEConfig.tiny(), latent_channels=dit.config.in_channels))


def assemble_model_folder(
    dit_run: str | Path,
    recipe: Recipe,
    target: str | Path,
    run_root: str | Path,
    trained_steps: int | None = None,
) -> Path:
    """Write `target` (replacing it only once the new folder is complete). trained_steps: the DiT steps
    actually run (a run stopped by a time budget), default the recipe's total."""
    from vitascope.convert.save import save_vitascope_folder
    from vitascope.models.vae import load_vae
    from vitascope.train.checkpoint import replace_folder
    from vitascope.train.dit_task import load_dit

    dit_run, target, run_root = Path(dit_run), Path(target), Path(run_root)
    dit = load_dit(dit_run / "export" / "transformer")
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if recipe.dataset == "random":
        vae, max_length = _stand_ins(recipe, dit, tmp), recipe.text_len
    else:
        if recipe.dataset == "shards":
            vae_dir, text_root, max_length = _shard_sources(recipe)
        else:
            vae_dir, text_root, max_length = _synthetic_sources(recipe, dit_run, run_root)
        vae = load_vae(vae_dir)
        for sub in ("text_encoder", "text_encoder_2"):
            shutil.copytree(text_root / sub, tmp / sub)
        if recipe.dataset != "shards":  # the world's own prompts, for LoRA prior preservation
            from vitascope.synthetic.captions import world_prompts

            (tmp / "prompts.txt").write_text("\n".join(world_prompts()) + "\n", encoding="utf-8")
    opts = recipe.export_options
    save_vitascope_folder(
        tmp,
        dit,
        vae,
        name=opts.model_name or recipe.name,
        defaults=dict(opts.defaults),
        text={"template": "dit-llm-encode-video", "max_length": max_length, "hidden_state_skip_layer": 2},
        i2v_mode=recipe.dit.image_condition_type,
        extra={
            "recipe": opts.recorded_recipe or recipe.name,
            "trained_steps": recipe.total_steps if trained_steps is None else int(trained_steps),
        },
    )
    replace_folder(tmp, target)
    log.info("assembled model folder %s", target)
    return target
