"""The loop on the tiny recipe: loss goes down, resume is exact, checkpoints are atomic."""

from __future__ import annotations

import json

import pytest
import torch

from vitascope.train.buckets import Bucket
from vitascope.train.checkpoint import latest_checkpoint
from vitascope.train.loop import train
from vitascope.train.recipes import Stage, get_recipe


def _tiny(**kw):
    return get_recipe("tiny")[0].replace(**kw)


def test_a_few_steps_lower_the_loss(tmp_path):
    # One bucket, a fixed pool of 8 random items: the model can fit them, so the loss must fall.
    r = _tiny(
        stages=(Stage("one", 40, (Bucket(5, 32, 32, 8),)),), lr=3e-3, i2v_prob=0.0, checkpoint_every=1000
    )
    res = train(r, tmp_path / "run", resume=False)
    first, last = sum(res.losses[:5]) / 5, sum(res.losses[-5:]) / 5
    assert last < 0.8 * first, (first, last)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 40 and rows[-1]["samples_per_s"] > 0


def test_resume_reproduces_the_next_losses_exactly(tmp_path):
    r = _tiny(checkpoint_every=3, grad_accum=2)
    straight = train(r, tmp_path / "a", max_steps=6, resume=False).losses
    first = train(r, tmp_path / "b", max_steps=3, resume=False)
    assert latest_checkpoint(tmp_path / "b").name == "step_000003"
    second = train(r, tmp_path / "b", max_steps=6, resume=True)
    assert first.losses + second.losses == straight  # bit-for-bit, across the stage boundary too
    # Same EMA weights at the end (the export holds them).
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "a" / "export" / "transformer" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "export" / "transformer" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # The metrics file holds each step once after the resume.
    steps = [json.loads(x)["step"] for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 6


def test_a_crash_mid_save_leaves_the_last_checkpoint_usable(tmp_path):
    r = _tiny(checkpoint_every=2, keep_checkpoints=1)
    train(r, tmp_path / "run", max_steps=4, resume=False)
    ck = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in ck.glob("step_*")) == ["step_000004"]  # pruned to keep=1
    # A half-written checkpoint (temp folder, no rename) is ignored by resume.
    (ck / ".tmp_step_000006_1").mkdir()
    (ck / ".tmp_step_000006_1" / "model.safetensors").write_bytes(b"partial")
    assert latest_checkpoint(tmp_path / "run").name == "step_000004"
    res = train(r, tmp_path / "run", max_steps=5, resume=True)
    assert res.step == 5 and len(res.losses) == 1


def test_text_dropout_and_i2v_paths_run(tmp_path):
    # i2v_prob=1: every video micro-batch trains with a clean first latent frame and token replace.
    r = _tiny(i2v_prob=1.0, stages=(Stage("v", 2, (Bucket(9, 32, 32, 2),)),))
    res = train(r, tmp_path / "run", resume=False)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(row["i2v"] == 1.0 for row in rows) and all(torch.isfinite(torch.tensor(res.losses)))


def test_unknown_recipe_says_which_exist():
    from vitascope.errors import InvalidOptionError

    with pytest.raises(InvalidOptionError, match="demo"):
        get_recipe("nope")


def test_training_leaves_global_state_alone(tmp_path):
    """No global RNG draw, logger level or backend flag is changed by the library's training code."""
    import logging

    from vitascope.models.text.tiny import write_tiny_text_encoders
    from vitascope.train.text_prior import pretrain_text_encoders

    write_tiny_text_encoders(tmp_path / "text", layout="tencent")  # (a fixture writer, not training code)
    torch.manual_seed(123)
    rng_before = torch.get_rng_state()
    llm_log = logging.getLogger("vitascope.models.text.llm")
    llm_log.setLevel(logging.WARNING)
    flags = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark)
    train(_tiny(stages=(Stage("one", 1, (Bucket(5, 32, 32, 2),)),)), tmp_path / "run", resume=False)
    pretrain_text_encoders(tmp_path / "text", steps=2, batch=4, max_length=16)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert llm_log.level == logging.WARNING
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark) == flags
    llm_log.setLevel(logging.NOTSET)
