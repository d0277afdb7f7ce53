"""Atomic writes: the new content appears whole, a failing writer leaves the old file and no temporary."""

import json

import pytest
import torch
from safetensors.torch import load_file

from vitascope.io.files import (
    atomic_write,
    save_safetensors_atomic,
    torch_save_atomic,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)


def test_each_writer_produces_the_file(tmp_path):
    write_bytes_atomic(tmp_path / "a" / "b.bin", b"\x00\x01")
    write_text_atomic(tmp_path / "t.txt", "héllo")
    write_json_atomic(tmp_path / "j.json", {"b": 1, "a": [1, 2]})
    save_safetensors_atomic(tmp_path / "w.safetensors", {"x": torch.arange(6.0).reshape(2, 3).t()})
    torch_save_atomic(tmp_path / "m.pt", {"module": {"y": torch.ones(2)}})
    assert (tmp_path / "a" / "b.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    assert json.loads((tmp_path / "j.json").read_text()) == {"a": [1, 2], "b": 1}
    assert torch.equal(load_file(tmp_path / "w.safetensors")["x"], torch.arange(6.0).reshape(2, 3).t())
    assert torch.equal(torch.load(tmp_path / "m.pt", weights_only=True)["module"]["y"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "j.json", "m.pt", "t.txt", "w.safetensors"]


def test_a_failing_writer_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.safetensors"
    write_text_atomic(target, "old")

    def half_then_crash(tmp):
        tmp.write_text("half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_crash)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_unserialisable_json_leaves_nothing(tmp_path):
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "x.json", {"a": object()}, default=None)
    assert list(tmp_path.iterdir()) == []
