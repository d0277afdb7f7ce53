"""Prior preservation for LoRA training: DreamBooth's class-prior term on the flow-matching loss.

A LoRA trained only on clips of one new thing learns more than the thing: taught purple on the demo model
(400 steps), it drew purple for every colour asked for (known colours right 100% -> 50%, docs/lora.md).
Here the base model, its adapters off, first generates `preserve_count` clips from prompts it already
knows (`LoraOptions.preserve_prompts`; a model folder can ship them as prompts.txt), and every step then
also trains on a few of those clips with their prompts: whatever the LoRA changes there costs loss.

The clips are generated once per run and kept in the run folder (preserve.safetensors), so a resume, on
any number of processes, trains on the same ones."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from vitascope.flow import sample_t
from vitascope.train.loss import flow_matching_loss

log = logging.getLogger(__name__)

PRESERVE_FILE = "preserve.safetensors"


def read_prompts(path: str | Path) -> list[str]:
    prompts = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    prompts = [p for p in prompts if p and not p.startswith("#")]
    if not prompts:
        from vitascope.errors import InvalidOptionError

        raise InvalidOptionError(f"{path}: no prompts (one per line; # starts a comment)")
    return prompts


def _adapters(model: torch.nn.Module, enabled: bool) -> None:
    from peft.tuners.tuners_utils import BaseTunerLayer

    for m in model.modules():
        if isinstance(m, BaseTunerLayer):
            m.enable_adapters(enabled)


@torch.no_grad()
def generate_preservation_set(task, path: Path) -> None:
    """Generate the base model's clips for the preservation prompts (adapters off) and write their scaled
    latents and prompts to `path`."""
    from tqdm import tqdm

    from vitascope.pipelines.options import GenerationOptions
    from vitascope.train.checkpoint import atomic_safetensors

    r, opts = task.recipe, task.recipe.lora_options
    prompts = read_prompts(opts.preserve_prompts)
    rng = np.random.default_rng([r.seed, 61])
    chosen = [prompts[int(i)] for i in rng.integers(len(prompts), size=opts.preserve_count)]
    pipe, vae = task.base_pipe, task.base_pipe.vae
    log.info("prior preservation: generating %d clips with the base model", len(chosen))
    _adapters(pipe.dit, False)
    lats = []
    try:
        for prompt in tqdm(chosen, desc="preservation clips", disable=task.rank != 0):
            res = pipe.generate(GenerationOptions(prompt=prompt, seed=int(rng.integers(2**31))))
            video = np.asarray(res.video)
            frames = video if video.dtype == np.uint8 else np.rint(np.clip(video, 0, 1) * 255).astype(np.uint8)
            x = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float().div(127.5).sub(1.0)  # [1, 3, F, H, W]
            dev = next(vae.parameters()).device
            lats.append(vae.encode(x.to(dev, vae.dtype)).float().cpu()[0] * vae.config.scaling_factor)
    finally:
        _adapters(pipe.dit, True)
    tensors = {"latents": torch.stack(lats).contiguous()}  # [N, C, T, h, w]
    atomic_safetensors(path, tensors)
    path.with_suffix(".json").write_text(json.dumps({"prompts": chosen}, ensure_ascii=False, indent=1))


def preservation_set(task) -> tuple[torch.Tensor, list[str]]:
    """(latents [N, C, T, h, w], prompts) of the run, generated on first use (rank 0; the others wait)."""
    cached = task.__dict__.get("_preserve")
    if cached is not None:
        return cached
    from safetensors.torch import load_file

    from vitascope.train.dit_task import _barrier

    path = task.run_dir / PRESERVE_FILE
    if task.rank == 0 and not (path.exists() and path.with_suffix(".json").exists()):
        task.run_dir.mkdir(parents=True, exist_ok=True)
        generate_preservation_set(task, path)
    _barrier()
    prompts = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))["prompts"]
    task._preserve = (load_file(path)["latents"], prompts)
    return task._preserve


def preservation_loss(task, step: int, micro: int, indices) -> torch.Tensor:
    """Flow-matching loss of the LoRA model on preservation clips: one per sample index of this rank's
    share of the micro-batch, drawn from (seed, step, micro, index) as the data samples are."""
    r, c = task.recipe, task.dit_config
    lat, prompts = preservation_set(task)
    x0s, noises, ts, texts = [], [], [], []
    for g in indices:
        rng = np.random.default_rng([r.seed, step, micro, 6, g])
        k = int(rng.integers(len(prompts)))
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        x0s.append(lat[k])
        texts.append(prompts[k])
        noises.append(torch.randn(lat[k].shape, generator=gen))
        ts.append(sample_t(1, r.t_sampler, shift=r.t_shift, generator=gen))
    x0, noise, t = torch.stack(x0s), torch.stack(noises), torch.cat(ts)
    states, mask, pooled = task._text_batch(texts)
    guidance = torch.full((len(texts),), float(np.mean(r.guidance_range)) * 1000.0) if c.guidance_embed else None
    dev = task.device
    x0, noise, t, states, mask, pooled = (v.to(dev) for v in (x0, noise, t, states, mask, pooled))
    guidance = guidance.to(dev) if guidance is not None else None
    return flow_matching_loss(task.model, x0, noise, t, states, mask, pooled, guidance).mean()
