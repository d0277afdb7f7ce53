"""The one device and dtype resolver (generation and training both use it)."""

import pytest
import torch

from vitascope.devices import resolve_device, resolve_dtype
from vitascope.errors import InvalidOptionError


def test_names_resolve_or_fail_with_what_to_use():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == resolve_device("auto")
    assert resolve_device("auto").type == (
        "cuda" if torch.cuda.is_available() else resolve_device("auto").type
    )
    if not torch.cuda.is_available():
        assert resolve_device("auto", allow_mps=False) == torch.device("cpu")
        with pytest.raises(InvalidOptionError, match="no CUDA device"):
            resolve_device("cuda", local_rank=1)
    for bad in ("tpu", "gpu0", "cuda:x"):
        with pytest.raises(InvalidOptionError, match="use auto, cpu or cuda"):
            resolve_device(bad)
    with pytest.raises(InvalidOptionError, match="unknown device 'mps'"):
        resolve_device("mps", allow_mps=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_takes_the_local_rank_gpu():
    assert resolve_device("cuda", local_rank=0) == torch.device("cuda", 0)
    assert resolve_device("cuda:0", local_rank=3) == torch.device("cuda", 0)  # an explicit index wins
    with pytest.raises(InvalidOptionError, match="does not exist"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_dtypes():
    assert resolve_dtype("bf16") is torch.bfloat16 and resolve_dtype(torch.float16) is torch.float16
    with pytest.raises(InvalidOptionError, match="dtype must be one of"):
        resolve_dtype("float8")
    with pytest.raises(InvalidOptionError, match="float32, bfloat16 or float16"):
        resolve_dtype(torch.int8)
