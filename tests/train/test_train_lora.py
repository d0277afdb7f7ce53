"""LoRA fine-tuning on the loop: a few steps on latent shards change the model, resume continues exactly,
and the exported file loads in the pipeline; a plain clip.mp4 + clip.txt folder trains through
`vitascope train --recipe lora`, and bad folders get one error line."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vitascope import cli
from vitascope.convert.lora import read_lora
from vitascope.data.shards import LatentShards, build_synthetic_pool
from vitascope.errors import InvalidOptionError
from vitascope.media import write_video
from vitascope.models.vae import load_vae
from vitascope.pipelines.loader import load_pipeline
from vitascope.pipelines.options import GenerationOptions
from vitascope.pipelines.tiny import write_tiny_model
from vitascope.synthetic.captions import canonical_caption
from vitascope.synthetic.render import render
from vitascope.synthetic.world import sample_scene
from vitascope.train.buckets import Bucket
from vitascope.train.loop import train
from vitascope.train.lora_task import lora_recipe


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("lora_base") / "base")


def test_lora_trains_resumes_and_loads(base, tmp_path):
    vae = load_vae(base / "vae")
    build_synthetic_pool(tmp_path / "shards", vae, Bucket(5, 32, 32, 2), 4, 0, 1.0)
    recipe = lora_recipe(tmp_path / "shards", base, rank=4, steps=3, lr=2e-2, checkpoint_every=2)

    full = train(recipe, tmp_path / "a")
    assert full.step == 3 and all(np.isfinite(full.losses))
    path = full.export_dir / "lora.safetensors"
    part = train(recipe, tmp_path / "b", max_steps=2)
    rest = train(recipe, tmp_path / "b")  # resumes from the step-2 checkpoint
    assert part.step == 2 and rest.step == 3
    assert abs(rest.losses[-1] - full.losses[-1]) < 1e-6

    plain = load_pipeline(base)
    lora = read_lora(path, plain.dit)
    assert lora and max(p.delta().abs().max().item() for p in lora.values()) > 0
    opts = GenerationOptions(prompt="a red circle moving right on a black background", seed=1)
    with_lora = load_pipeline(base, loras=[(path, 1.0)])
    a, b = plain.generate(opts).video, with_lora.generate(opts).video
    assert np.abs(a - b).max() > 1e-4


def _clips(folder, n=3, frames=9, size=48):
    """World clips of 9 frames at 8 fps (the tiny model's 5 frames need 5 of them) as clip.mp4 + clip.txt."""
    folder.mkdir(parents=True)
    for i in range(n):
        spec = sample_scene(i, frames=frames, height=size, width=size, colour="purple")
        write_video(render(spec), folder / f"clip_{i}.mp4", fps=8)
        (folder / f"clip_{i}.txt").write_text(canonical_caption(spec) + "\n")
    return folder


def _train(*args):
    cli._register()
    return CliRunner().invoke(cli.app, ["train", "--recipe", *args])


def test_clip_folder_trains_with_the_train_command_and_is_cached(base, tmp_path):
    data = _clips(tmp_path / "clips")
    out = tmp_path / "run"
    args = ["lora", "--base", str(base), "--data", str(data), "--out", str(out), "--rank", "4", "--steps", "3",
            "--lr", "1e-2", "--device", "cpu"]  # fmt: skip
    r = _train(*args, "--max-steps", "2")
    assert r.exit_code == 0, r.output
    assert "lora: stopped at step 2 of 3" in r.output
    lora = out / "export" / "lora.safetensors"
    pipe = load_pipeline(base)
    assert read_lora(lora, pipe.dit)  # a LoRA of the base's layers
    # The clips were cut to the base's default shape (5 frames, 32x32) and encoded with its text encoders.
    (folder,) = (out / "clip_latents").glob("*/5x32x32")
    pool = LatentShards(folder)
    assert len(pool) == 3 and pool.text is not None
    assert pool.records[0]["caption"] == (data / "clip_0.txt").read_text().strip()
    want = pipe.text_encoder.encode([pool.records[0]["caption"]])
    assert np.allclose(pool.text["text_states"][0].numpy(), want.states[0].numpy(), atol=1e-5)
    stamp = folder.joinpath("index.json").stat().st_mtime_ns
    r = _train(*args)  # resumes at step 2; the encoded clips are reused
    assert r.exit_code == 0 and "lora: finished" in r.output, r.output
    assert folder.joinpath("index.json").stat().st_mtime_ns == stamp


def test_bad_folders_get_one_error_line(base, tmp_path):
    data = _clips(tmp_path / "clips", n=2)
    (data / "clip_1.txt").unlink()
    (data / "clip_0.txt").write_text("  \n")
    r = _train("lora", "--base", str(base), "--data", str(data), "--out", str(tmp_path / "r1"))
    assert r.exit_code != 0
    assert "clip_1.mp4 has no caption file clip_1.txt" in str(r.exception)
    assert "clip_0.txt is empty" in str(r.exception)

    short = _clips(tmp_path / "short", n=1, frames=1)  # one frame: the model's 5 frames at 8 fps need 5
    (short / "broken.mp4").write_bytes(b"not a video")
    (short / "broken.txt").write_text("a red circle")
    r = _train(
        "lora", "--base", str(base), "--data", str(short), "--out", str(tmp_path / "r2"), "--steps", "1"
    )
    assert r.exit_code != 0
    assert "clip_0.mp4 is too short" in str(r.exception) and "cannot decode video" in str(r.exception)

    empty = tmp_path / "empty"
    empty.mkdir()
    r = _train("lora", "--data", str(empty), "--out", str(tmp_path / "r3"))
    assert "holds neither latent shards" in str(r.exception)
    r = _train("tiny", "--rank", "4", "--out", str(tmp_path / "r4"))
    assert "--rank is an option of the LoRA recipes" in str(r.exception)


def test_i2v_preset(base, tmp_path):
    with pytest.raises(InvalidOptionError, match="needs a base model with token-replace I2V"):
        lora_recipe(tmp_path, base, preset="lora-i2v")
    # a tiny base whose DiT does token replace, as the demo model's does
    base = Path(shutil.copytree(base, tmp_path / "i2v_base"))
    cfg = json.loads((base / "transformer" / "config.json").read_text())
    (base / "transformer" / "config.json").write_text(
        json.dumps({**cfg, "image_condition_type": "token_replace"})
    )
    vae = load_vae(base / "vae")
    build_synthetic_pool(tmp_path / "shards", vae, Bucket(5, 32, 32, 2), 4, 0, 1.0)
    r = lora_recipe(tmp_path / "shards", base, preset="lora-i2v", steps=1)
    assert r.i2v_prob == 1.0 and r.lora_options.targets == "i2v" and r.lora_options.rank == 64
    res = train(r, tmp_path / "run")
    assert res.step == 1 and np.isfinite(res.losses[-1])
    names = set(read_lora(res.export_dir / "lora.safetensors", load_pipeline(base).dit))
    assert any(n.endswith("img_mod.linear") for n in names)  # the official list has the modulation linears


def test_trained_file_loads_in_diffusers_unrenamed(base, tmp_path):
    """The recipe's export (default targets at this width) in diffusers' HunyuanVideo LoRA loader, keys as
    written: the diffusers transformer with it gives our DiT's output with the LoRA merged."""
    from diffusers import HunyuanVideoPipeline, HunyuanVideoTransformer3DModel

    from vitascope.convert.diffusers_dit import config_to_diffusers, tencent_to_diffusers
    from vitascope.convert.lora_peft import load_loras

    vae = load_vae(base / "vae")
    build_synthetic_pool(tmp_path / "shards", vae, Bucket(5, 32, 32, 2), 4, 0, 1.0)
    recipe = lora_recipe(tmp_path / "shards", base, rank=4, steps=2, lr=5e-2)
    assert recipe.lora_options.targets == "portable"  # narrower than 3072: diffusers can't split linear1
    path = train(recipe, tmp_path / "run").export_dir / "lora.safetensors"

    ours = load_pipeline(base).dit
    cfg = {k: v for k, v in config_to_diffusers(ours.config).items() if k != "_class_name"}
    ref = HunyuanVideoTransformer3DModel(**cfg)
    ref.load_state_dict(tencent_to_diffusers(ours.state_dict()))
    state = HunyuanVideoPipeline.lora_state_dict(str(path))
    HunyuanVideoPipeline.load_lora_into_transformer(state, transformer=ref.eval())
    load_loras(ours, [(path, 1.0)])
    g = torch.Generator().manual_seed(0)
    c = ours.config
    x = torch.randn(1, c.in_channels, 2, 8, 8, generator=g)
    states, pooled = (
        torch.randn(1, 6, c.text_states_dim, generator=g),
        torch.randn(1, c.text_states_dim_2, generator=g),
    )
    mask, t = torch.ones(1, 6, dtype=torch.long), torch.tensor([500.0])
    guidance = torch.tensor([4000.0]) if c.guidance_embed else None
    with torch.no_grad():
        want = ours(x, t, states, mask, pooled, guidance)
        got = ref(x, t, states, mask, pooled, guidance, return_dict=False)[0]
    assert (want - load_pipeline(base).dit(x, t, states, mask, pooled, guidance)).abs().max() > 1e-4
    assert (got - want).abs().max() < 1e-4


@pytest.mark.slow
def test_torchrun_two_processes_give_the_one_process_lora(base, tmp_path):
    """`torchrun --nproc_per_node 2 vitascope train --recipe lora` (FSDP2 over gloo): the same LoRA file as
    one process (each process takes half of every batch)."""
    import os
    import subprocess
    import sys

    from safetensors.torch import load_file

    vae = load_vae(base / "vae")
    build_synthetic_pool(tmp_path / "shards", vae, Bucket(5, 32, 32, 2), 4, 0, 1.0)
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=f"{root / 'src'}:{root / 'tests'}", OMP_NUM_THREADS="1")
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    args = ["-m", "vitascope.cli", "train", "--recipe", "lora", "--base", str(base), "--data",
            str(tmp_path / "shards"), "--steps", "2", "--rank", "4", "--device", "cpu"]  # fmt: skip
    two = subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", *args, "--out", str(tmp_path / "two")],
                         env=env, capture_output=True, text=True, timeout=400)  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([sys.executable, *args, "--out", str(tmp_path / "one")], env=env, capture_output=True,
                         text=True, timeout=400)  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    a = load_file(str(tmp_path / "one" / "export" / "lora.safetensors"))
    b = load_file(str(tmp_path / "two" / "export" / "lora.safetensors"))
    assert a.keys() == b.keys() and len(a) > 0
    for k in a:
        # The gradient all-reduce sums in another order, so an element whose gradient is ~0 can take Adam's
        # step either way (at most lr = 1e-3 per step); every other element must agree to float rounding.
        diff = (b[k].float() - a[k].float()).abs()
        assert diff.max() <= 5e-3, (k, float(diff.max()))
        assert (diff > 1e-5).float().mean() <= 0.01, (k, float((diff > 1e-5).float().mean()))


def test_prior_preservation_generates_the_base_clips_once_and_resumes_exactly(base, tmp_path):
    """With prompts (here --preserve-prompts; a model folder's prompts.txt by default) every step also trains
    on clips the base generated for them, adapters off; the clips are generated once per run and reused."""
    vae = load_vae(base / "vae")
    build_synthetic_pool(tmp_path / "shards", vae, Bucket(5, 32, 32, 2), 4, 0, 1.0)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# known\na red circle moving right on a black background\na blue square staying still on a white background\n")
    recipe = lora_recipe(tmp_path / "shards", base, rank=4, steps=3, lr=2e-2, checkpoint_every=2, preserve_prompts=prompts)
    assert recipe.lora_options.preserve_weight == 1.0
    recipe = recipe.replace(lora_options=dataclasses.replace(recipe.lora_options, preserve_count=3))
    full = train(recipe, tmp_path / "a")
    rows = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["preserve"]) and r["preserve"] > 0 for r in rows)
    from safetensors.torch import load_file

    from vitascope.train.lora_preserve import PRESERVE_FILE

    lat = load_file(tmp_path / "a" / PRESERVE_FILE)["latents"]
    assert lat.shape[0] == 3 and lat.shape[1] == vae.config.latent_channels
    # the clips are the base model's own: the first one is what the base pipeline generates for its prompt
    meta = json.loads((tmp_path / "a" / PRESERVE_FILE).with_suffix(".json").read_text())
    assert set(meta["prompts"]) <= {"a red circle moving right on a black background",
                                    "a blue square staying still on a white background"}  # fmt: skip
    part = train(recipe, tmp_path / "b", max_steps=2)
    stamp = (tmp_path / "b" / PRESERVE_FILE).stat().st_mtime_ns
    rest = train(recipe, tmp_path / "b")
    assert (tmp_path / "b" / PRESERVE_FILE).stat().st_mtime_ns == stamp  # reused on resume, not regenerated
    assert part.step == 2 and abs(rest.losses[-1] - full.losses[-1]) < 1e-6
    # without prompts (the tiny base ships none) preservation is off; a missing file is one clear error
    assert lora_recipe(tmp_path / "shards", base).lora_options.preserve_weight == 0.0
    with pytest.raises(InvalidOptionError, match="preserve-prompts"):
        lora_recipe(tmp_path / "shards", base, preserve_prompts=tmp_path / "nope.txt")
