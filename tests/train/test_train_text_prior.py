"""The language prior of the demo's tiny text encoders: after it, the pooled CLIP vector and the LLM states
the DiT reads name the scene's attributes, and prompts that differ in one word are far apart."""

from __future__ import annotations

import numpy as np
import torch

from vitascope.models.text.clip import CLIPEncoder
from vitascope.models.text.llm import LLMEncoder
from vitascope.models.text.tiny import write_tiny_text_encoders
from vitascope.synthetic.world import sample_scene
from vitascope.train.text_prior import caption_batch, pretrain_text_encoders, scene_labels

PROMPTS = [
    "a red circle moving left on a black background",
    "a green circle moving left on a black background",
    "a red square moving left on a black background",
    "a red circle moving right on a black background",
]


def _pooled_cos(folder) -> list[float]:
    pooled = CLIPEncoder.from_folder(folder / "text_encoder_2").encode(PROMPTS)
    return [float(torch.cosine_similarity(pooled[0], pooled[i], dim=0)) for i in (1, 2, 3)]


def test_labels_follow_the_scene():
    spec = sample_scene(3, 17, 64, 64, n_objects=1, colour="blue", shape="triangle", motion="moving up")
    lab = scene_labels(spec)
    assert lab["colour"] == 2 and lab["shape"] == 2 and lab["motion"] == 2 and lab["colour_2"] == 5
    captions, labels = caption_batch(np.random.default_rng(0), 64, 1.0)
    assert len(captions) == 64 and all(len(v) == 64 for v in labels.values())
    # 17-frame scenes: motions other than "staying still" occur (single images would all be still)
    assert len(set(labels["motion"].tolist())) >= 4


def test_prior_separates_prompts_that_differ_in_one_word(tmp_path):
    folder = write_tiny_text_encoders(tmp_path / "te", layout="tencent")
    before = _pooled_cos(folder)
    assert min(before) > 0.9  # random encoders: the pooled vector hardly depends on the words
    stats = pretrain_text_encoders(folder, steps=150, batch=32)
    after = _pooled_cos(folder)
    assert max(after) < 0.9, (before, after)
    assert stats["acc_clip"] > 0.8 and stats["acc_llm"] > 0.5, stats
    assert 0.5 < stats["rms"] < 2.0  # LLM token states at a unit scale (random ones are ~0.02)
    # The encoders are saved in place and still load with the standard loaders.
    llm = LLMEncoder.from_folder(folder / "text_encoder", max_length=24)
    assert llm.encode(PROMPTS).states.shape == (4, 24, 32)
