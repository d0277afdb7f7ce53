"""`vitascope convert-lora` and `generate --lora FILE:WEIGHT` on a tiny model folder; the Python API's
merged and run-time LoRAs give the same video."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from lora_builders import random_lora
from typer.testing import CliRunner

from vitascope import cli
from vitascope.convert.folder import detect_folder
from vitascope.convert.lora import read_lora
from vitascope.convert.lora_formats import format_name, save_lora
from vitascope.errors import InvalidOptionError
from vitascope.pipelines.loader import load_dit, load_pipeline
from vitascope.pipelines.options import GenerationOptions
from vitascope.pipelines.tiny import write_tiny_model

PROMPT = "a green triangle moving left on a black background"
SMALL = dict(height=32, width=32, frames=5, steps=2, seed=3)


def _run(*args):
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "vitascope.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora_cli")
    model = write_tiny_model(root / "model")
    dit = load_dit(detect_folder(model), torch.device("cpu"), torch.float32)
    a = save_lora(random_lora(dit, seed=1), root / "a_musubi.safetensors", "musubi")
    b = save_lora(random_lora(dit, rank=2, alpha=2.0, seed=2), root / "b.safetensors", "diffusers")
    return model, a, b, dit


def _video(pipe):
    return pipe.generate(GenerationOptions(prompt=PROMPT, **SMALL)).video.astype(np.float32)


def test_merged_and_runtime_loras_agree(setup):
    model, a, b, _ = setup
    loras = [f"{a}:0.8", (b, 0.5)]
    merged = load_pipeline(model, loras=loras)
    runtime = load_pipeline(model, loras=loras, lora_mode="runtime")
    plain = load_pipeline(model)
    assert merged.identity["loras"][0] == {
        "path": str(a),
        "weight": 0.8,
        "mode": "merge",
        "layers": len(read_lora(a)),
    }
    vm, vr, vp = _video(merged), _video(runtime), _video(plain)
    assert np.abs(vm - vr).max() < 2e-3
    assert np.abs(vm - vp).max() > 2e-2  # the LoRAs change the video


@pytest.mark.slow
def test_convert_lora_cli_and_generate(setup, tmp_path):
    model, a, b, dit = setup
    out = tmp_path / "comfy.safetensors"
    cli._register()
    r = CliRunner().invoke(
        cli.app, ["convert-lora", str(a), "--to", "comfyui", "--out", str(out), "--model", str(model)]
    )
    assert r.exit_code == 0, r.output
    back, orig = read_lora(out, dit), read_lora(a, dit)
    assert set(back) == set(orig)
    for k in orig:
        torch.testing.assert_close(back[k].delta(), orig[k].delta(), atol=1e-5, rtol=1e-5)
    video = tmp_path / "clip.mp4"  # one CLI run checks --lora FILE:WEIGHT and --rewrite (sidecar keeps both)
    r = _run("generate", "--model", str(model), "--prompt", "一个绿色的三角形向左移动", "--rewrite", "normal",
             "--height", "32", "--width", "32", "--frames", "5", "--steps", "2", "--seed", "1",
             "--lora", f"{out}:0.7", "--output", str(video))  # fmt: skip
    assert r.returncode == 0, r.stderr
    side = json.loads((tmp_path / "clip.mp4.json").read_text())
    assert side["model"]["loras"] == [{"path": str(out), "weight": 0.7, "mode": "merge", "layers": len(orig)}]
    assert side["options"]["prompt"] == PROMPT
    rw = side["prompt_rewrite"]
    assert (
        rw["original"] == "一个绿色的三角形向左移动" and rw["prompt"] == PROMPT and rw["backend"] == "offline"
    )


def test_cli_errors_are_one_line(setup, tmp_path):
    model, a, _, _ = setup
    bad = tmp_path / "bad.safetensors"
    from vitascope.io.files import save_safetensors_atomic

    save_safetensors_atomic(bad, {"lora_unet_nowhere_at_all.lora_down.weight": torch.zeros(2, 2)})
    r = _run("convert-lora", str(bad), "--to", "musubi", "--out", str(tmp_path / "x.safetensors"))
    assert r.returncode == 2 and "error:" in r.stderr and "lora_unet_nowhere_at_all" in r.stderr
    assert "Traceback" not in r.stderr
    with pytest.raises(InvalidOptionError, match="unknown LoRA format 'onnx'"):
        format_name("onnx")
