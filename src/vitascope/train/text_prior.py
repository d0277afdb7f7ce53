"""A language prior for the tiny text encoders of the demo model.

The released models condition on a pretrained LLM and CLIP: their states already separate "red" from
"green" and "left" from "right". The demo's encoders are random 32-wide transformers: their token states
have norm ~0.06 and the pooled CLIP vector is nearly a function of the prompt length (cosine 0.97-0.99
between prompts that differ in one word), so the DiT's modulation path carries no content at all.

This module gives them what pretraining gives the real ones, on the synthetic world's own language: a few
hundred steps that train both encoders to name the scene's attributes (first object's colour, shape and
motion, the second object if any, background, camera) from canonical captions and structured variants,
through small linear heads that are thrown away afterwards. What the DiT reads is exactly what is trained:
the LLM states at `hidden_state_skip_layer` after the template crop (masked mean), and CLIP's pooled output.
A norm term keeps the LLM token states at unit RMS, the scale a real LLM's states live at after its norm.

The encoders are then saved in place, in the layout real checkpoints use, and loaded by the same code.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vitascope.models.text.llm import hidden_state_index
from vitascope.synthetic.world import BACKGROUNDS, CAMERAS, COLOURS, MOTIONS, SHAPES

log = logging.getLogger(__name__)

# attribute -> its values; the second object's fields have an extra "none" class
_FIELDS = {
    "colour": tuple(COLOURS),
    "shape": SHAPES,
    "motion": MOTIONS,
    "colour_2": (*COLOURS, "none"),
    "shape_2": (*SHAPES, "none"),
    "motion_2": (*MOTIONS, "none"),
    "background": tuple(BACKGROUNDS),
    "camera": CAMERAS,
}


def scene_labels(spec) -> dict[str, int]:
    """Class index of every field for a scene (the first two objects; 'none' when there is one)."""
    first = spec.objects[0]
    second = spec.objects[1] if len(spec.objects) > 1 else None
    values = {
        "colour": first.colour,
        "shape": first.shape,
        "motion": first.motion,
        "colour_2": second.colour if second else "none",
        "shape_2": second.shape if second else "none",
        "motion_2": second.motion if second else "none",
        "background": spec.background,
        "camera": spec.camera,
    }
    return {k: _FIELDS[k].index(v) for k, v in values.items()}


def caption_batch(rng: np.random.Generator, n: int, canonical_fraction: float) -> tuple[list[str], dict]:
    """`n` world captions (canonical or structured variants, as the DiT sees them) and their labels [n]."""
    from vitascope.data.synthetic import dit_caption
    from vitascope.synthetic.world import sample_scene

    captions, labels = [], {k: [] for k in _FIELDS}
    for _ in range(n):
        spec = sample_scene(int(rng.integers(2**31)), 17, 64, 64)  # frames=1 would make every scene still
        captions.append(dit_caption(spec, rng, canonical_fraction))
        for k, v in scene_labels(spec).items():
            labels[k].append(v)
    return captions, {k: torch.tensor(v) for k, v in labels.items()}


MARGIN = 0.3


class _Heads(torch.nn.Module):
    """Cosine classifiers: a class is a direction, so telling two prompts apart needs a large angle between
    their features, not a small difference that a big weight blows up (which the DiT could not use)."""

    SCALE = 10.0

    def __init__(self, dim: int):
        super().__init__()
        self.heads = torch.nn.ParameterDict(
            {k: torch.nn.Parameter(torch.randn(len(v), dim) / dim**0.5) for k, v in _FIELDS.items()}
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = F.normalize(x, dim=-1)
        return {k: self.SCALE * x @ F.normalize(w, dim=-1).T for k, w in self.heads.items()}


def _llm_features(llm, ids, mask) -> tuple[torch.Tensor, torch.Tensor]:
    """(masked mean of the cropped states [B, D], the cropped states [B, S, D], their mask [B, S])."""
    out = llm.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    states = out.hidden_states[hidden_state_index(llm.hidden_state_skip_layer)][:, llm.crop_start :]
    m = mask[:, llm.crop_start :].to(states.dtype)[..., None]  # [B, S, 1]
    return (states * m).sum(1) / m.sum(1).clamp(min=1.0), states, m


def _ce(heads: _Heads, x: torch.Tensor, labels: dict) -> tuple[torch.Tensor, float]:
    """Cross-entropy with an additive cosine margin (the true class must win by MARGIN in cosine)."""
    logits = heads(x)
    loss = 0.0
    for k in _FIELDS:
        hit = F.one_hot(labels[k], logits[k].shape[-1]).to(logits[k].dtype)
        loss = loss + F.cross_entropy(logits[k] - heads.SCALE * MARGIN * hit, labels[k])
    loss = loss / len(_FIELDS)
    acc = float(np.mean([(logits[k].argmax(-1) == labels[k]).float().mean().item() for k in _FIELDS]))
    return loss, acc


def pretrain_text_encoders(
    folder: str | Path,
    steps: int = 500,
    batch: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    max_length: int = 24,
    canonical_fraction: float = 0.85,
) -> dict:
    """Train the encoders under `folder` (text_encoder/, text_encoder_2/) in place; returns the final
    attribute accuracies of both heads on a held-out batch and the LLM state RMS. The global torch RNG and
    the encoders' logger levels are as they were afterwards."""
    from vitascope.train.logging import quiet_loggers

    # structured variants longer than max_length are cut, as in DiT training: no truncation warnings
    with (
        torch.random.fork_rng(devices=[]),
        quiet_loggers("vitascope.models.text.llm", "vitascope.models.text.clip"),
    ):
        torch.manual_seed(seed)  # the heads' init
        return _pretrain(Path(folder), steps, batch, lr, seed, max_length, canonical_fraction)


def _pretrain(folder: Path, steps, batch, lr, seed, max_length, canonical_fraction) -> dict:
    from vitascope.models.text.clip import CLIPEncoder
    from vitascope.models.text.llm import LLMEncoder
    from vitascope.train.logging import progress

    llm = LLMEncoder.from_folder(folder / "text_encoder", max_length=max_length)
    clip = CLIPEncoder.from_folder(folder / "text_encoder_2")
    llm.model.train().requires_grad_(True)  # the loaders hand out frozen encoders
    clip.model.train().requires_grad_(True)
    heads_llm, heads_clip = _Heads(llm.model.config.hidden_size), _Heads(clip.dim)
    params = [
        *llm.model.parameters(),
        *clip.model.parameters(),
        *heads_llm.parameters(),
        *heads_clip.parameters(),
    ]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    rng = np.random.default_rng([seed, 31])

    def losses(captions, labels):
        ids, mask = llm.tokenize(captions)
        pooled_llm, states, m = _llm_features(llm, ids, mask)
        rms = ((states.pow(2).mean(-1, keepdim=True) * m).sum() / m.sum()).sqrt()
        clip_ids = clip.tokenizer(
            captions, max_length=clip.max_length, padding="max_length", truncation=True, return_tensors="pt"
        )["input_ids"]
        pooled_clip = clip.model(input_ids=clip_ids).pooler_output  # [B, D2]
        l_llm, acc_llm = _ce(heads_llm, pooled_llm, labels)
        l_clip, acc_clip = _ce(heads_clip, pooled_clip, labels)
        return l_llm + l_clip + (rms - 1.0) ** 2, {
            "acc_llm": acc_llm,
            "acc_clip": acc_clip,
            "rms": float(rms.detach()),
        }

    bar = progress(total=steps, desc="language prior", unit="step")
    for step in range(steps):
        captions, labels = caption_batch(rng, batch, canonical_fraction)
        loss, stats = losses(captions, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.update(1)
        if step % 50 == 0 or step == steps - 1:
            log.info("text prior step %d loss %.4f %s", step, float(loss.detach()), stats)
    bar.close()
    llm.model.eval().requires_grad_(False)
    clip.model.eval().requires_grad_(False)
    with torch.no_grad():
        captions, labels = caption_batch(np.random.default_rng([seed, 32]), 256, 1.0)
        _, stats = losses(captions, labels)
    # save_pretrained writes config + weights; tokenizers are untouched. Write next to, then swap in.
    for model, sub in ((llm.model, "text_encoder"), (clip.model, "text_encoder_2")):
        tmp = folder / f".{sub}.tmp"
        model.save_pretrained(tmp)
        for f in tmp.iterdir():
            f.replace(folder / sub / f.name)
        tmp.rmdir()
    log.info("text prior: held-out canonical captions %s", stats)
    return stats
