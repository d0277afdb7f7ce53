"""load_pipeline: the compute dtype travels explicitly, and weights load with progress."""

import torch

import vitascope


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
