import numpy as np
import pytest

import vitascope
from vitascope.errors import InvalidOptionError
from vitascope.pipelines.options import GenerationOptions
from vitascope.pipelines.tiny import write_tiny_model


def test_bfloat16_runs_and_stays_close_to_float32(tmp_path):
    folder = write_tiny_model(tmp_path / "m")
    opts = GenerationOptions(prompt="a red circle moving right on a black background", seed=3)
    fp32 = vitascope.load_pipeline(folder, dtype="float32").generate(opts).video
    pipe = vitascope.load_pipeline(folder, dtype="bf16")
    assert (
        next(pipe.dit.parameters()).dtype.is_floating_point
        and str(next(pipe.dit.parameters()).dtype) == "torch.bfloat16"
    )
    bf16 = pipe.generate(opts).video
    assert bf16.shape == fp32.shape and bf16.dtype == np.float32
    assert np.abs(bf16 - fp32).mean() < 0.05


def test_unavailable_device_is_a_clear_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(InvalidOptionError, match="no CUDA GPU"):
        vitascope.load_pipeline(tmp_path, device="cuda")
