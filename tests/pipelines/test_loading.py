"""load_pipeline: the compute dtype travels explicitly, weights load with progress, LoRAs merge as they load."""

import torch

import vitascope
from vitascope.convert.lora import LoraPair, to_kohya
from vitascope.io.files import save_safetensors_atomic


def test_dtype_is_explicit_and_loading_reports_progress():
    seen = {}
    pipe = vitascope.load_pipeline(
        None,
        dtype="bfloat16",
        progress=lambda stage, done, total: seen.setdefault(stage, []).append((done, total)),
    )
    assert pipe.dtype is torch.bfloat16
    assert {p.dtype for p in pipe.dit.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in pipe.vae.parameters()} == {torch.bfloat16}
    for stage in ("weights", "vae"):
        done, total = seen[stage][-1]
        assert done == total > 0 and len(seen[stage]) > 10, stage
    dit_bytes = sum(t.numel() * 4 for t in pipe.dit.state_dict().values())  # placed from float32 files
    assert seen["weights"][-1][1] == dit_bytes


def test_lora_given_to_load_pipeline_changes_exactly_its_layers(tmp_path):
    plain = vitascope.load_pipeline(None)
    target = "double_blocks.0.img_attn_qkv"
    layer = dict(plain.dit.named_modules())[target]
    g = torch.Generator().manual_seed(0)
    pair = LoraPair(
        torch.randn(2, layer.in_features, generator=g), torch.randn(layer.out_features, 2, generator=g)
    )
    path = save_safetensors_atomic(tmp_path / "l.safetensors", to_kohya({target: pair}))
    merged = vitascope.load_pipeline(None, loras=[(path, 0.5)])
    before, after = plain.dit.state_dict(), merged.dit.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed == [f"{target}.weight"]
    expected = before[changed[0]] + 0.5 * pair.up @ pair.down
    assert torch.allclose(after[changed[0]], expected, atol=1e-6)
