"""Per-request LoRAs and prompt rewriting against a real `vitascope serve` subprocess (tiny random model):
a job's LoRA changes its video only, the next job gets the served model back exactly, uploads and names are
checked, and the sidecar records the LoRAs and both prompts."""

from __future__ import annotations

import io
import json
import pickle
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from serve_helpers import png_bytes, start, submit, tiny_model, wait_job  # noqa: E402

SMALL = dict(height=32, width=32, frames=5, steps=2, seed=3, prompt="a red circle moving right")


def _lora(dit, seed: int, rank: int = 2) -> dict:
    from vitascope.convert.lora import LinearIndex, LoraPair

    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, (o, i) in LinearIndex.of(dit).shapes.items():
        if name.endswith(("img_attn_qkv", "linear1", "fc1")):
            out[name] = LoraPair(
                0.3 * torch.randn(rank, i, generator=g), 0.3 * torch.randn(o, rank, generator=g), rank
            )
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from vitascope.convert.lora_formats import save_lora
    from vitascope.pipelines.loader import load_pipeline

    root = tmp_path_factory.mktemp("serve-lora")
    dit = load_pipeline(tiny_model()).dit
    loras = root / "loras"
    loras.mkdir()
    save_lora(_lora(dit, 1), loras / "style.safetensors")
    save_lora(_lora(dit, 2), root / "upload.safetensors")
    bad = {"diffusion_model.no_such_block.lora_A.weight": torch.zeros(2, 4),
           "diffusion_model.no_such_block.lora_B.weight": torch.zeros(4, 2)}  # fmt: skip
    from safetensors.torch import save_file

    save_file(bad, str(loras / "wrong.safetensors"))
    (loras / "evil.safetensors").write_bytes(pickle.dumps({"a": 1}))
    srv = start(root / "data", "--no-ui", "--lora-dir", str(loras))
    srv.files = root
    yield srv
    srv.stop()


def _video(server, client, **fields) -> tuple[bytes, dict]:
    job = wait_job(client, submit(client, **fields))
    assert job["state"] == "succeeded", job["error"]
    out = server.data / "outputs" / f"{job['id']}.mp4"
    return out.read_bytes(), json.loads(out.with_name(out.name + ".json").read_text())


def test_a_jobs_lora_changes_only_that_job(server):
    with server.client() as c:
        assert set(c.get("/v1/loras").json()["loras"]) == {"style", "wrong", "evil"}
        assert "style" in c.get("/v1/health").json()["loras"]
        plain, side = _video(server, c, **SMALL)
        styled, side_l = _video(server, c, **SMALL, loras=[{"name": "style", "weight": 0.8}])
        again, _ = _video(server, c, **SMALL)
    assert styled != plain
    assert again == plain  # the adapters are gone: the served model is exactly what it was
    assert "loras" not in side
    assert side_l["loras"][0]["name"] == "style" and side_l["loras"][0]["weight"] == 0.8
    assert side_l["loras"][0]["mode"] == "runtime" and side_l["loras"][0]["layers"] > 0


def test_lora_names_weights_and_files_are_checked(server):
    with server.client() as c:
        r = c.post("/v1/jobs", json={**SMALL, "loras": [{"name": "nope"}]})
        assert r.status_code == 422 and "unknown LoRA 'nope'" in r.text and "style" in r.text
        r = c.post("/v1/jobs", json={**SMALL, "loras": [{"name": "../loras/style"}]})
        assert r.status_code == 422 and "unknown LoRA" in r.text
        r = c.post("/v1/jobs", json={**SMALL, "loras": [{"name": "style", "weight": 9}]})
        assert r.status_code == 422 and "weight" in r.text
        r = c.post("/v1/jobs", json={**SMALL, "loras": [{"name": "wrong"}]})
        assert r.status_code == 422 and "no_such_block" in r.text
        r = c.post("/v1/jobs", json={**SMALL, "loras": [{"name": "evil"}]})
        assert r.status_code == 422 and "must be a .safetensors file" in r.text


def test_uploaded_lora_is_checked_then_usable(server):
    data = (server.files / "upload.safetensors").read_bytes()
    with server.client() as c:
        r = c.post("/v1/loras", files={"file": ("mine.safetensors", io.BytesIO(data))})
        assert r.status_code == 201, r.text
        name = r.json()["name"]
        assert name.startswith("upload-") and r.json()["layers"] > 0
        assert name in c.get("/v1/loras").json()["loras"]
        r = c.post("/v1/loras", files={"file": ("x.safetensors", io.BytesIO(pickle.dumps([1])))})
        assert r.status_code == 422 and "safetensors" in r.text
        form = {k: str(v) for k, v in SMALL.items()} | {"task": "i2v", "loras": json.dumps([{"name": name}])}
        r = c.post("/v1/jobs", data=form, files={"image": ("f.png", png_bytes(32, 32))})  # loras as JSON text
        assert r.status_code == 201, r.text
        job = wait_job(c, r.json()["id"])
    assert job["state"] == "succeeded", job["error"]


def test_rewritten_job_records_both_prompts(server):
    with server.client() as c:
        _, side = _video(server, c, **{**SMALL, "prompt": "一个红色的圆向右移动"}, rewrite="normal")
    assert side["prompt_rewrite"]["original"] == "一个红色的圆向右移动"
    assert side["prompt_rewrite"]["prompt"] == side["options"]["prompt"]
    assert "red circle" in side["options"]["prompt"]
