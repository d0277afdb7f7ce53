"""The one state-dict reader and checker: formats, module/ema chosen explicitly, shapes-only reading,
strict checks that name keys and file, float8 only with its scales."""

import json

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from vitascope.errors import WeightLoadError
from vitascope.io.fp8 import dequantize, scale_map_path
from vitascope.io.weights import check_state_dict, compare_keys, load_strict, read_state_dict


def _sd(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"a.weight": torch.randn(4, 3, generator=g), "a.bias": torch.randn(4, generator=g)}


def test_formats_read_the_same_tensors(tmp_path):
    sd = _sd()
    save_file({"a.weight": sd["a.weight"]}, tmp_path / "s1.safetensors")
    save_file({"a.bias": sd["a.bias"]}, tmp_path / "s2.safetensors")
    index = {"weight_map": {"a.weight": "s1.safetensors", "a.bias": "s2.safetensors"}}
    (tmp_path / "m.safetensors.index.json").write_text(json.dumps(index))
    torch.save({"state_dict": sd}, tmp_path / "lightning.pt")
    torch.save(sd, tmp_path / "plain.bin")
    for name in ("m.safetensors.index.json", "lightning.pt", "plain.bin"):
        got = read_state_dict(tmp_path / name)
        assert set(got) == set(sd) and all(torch.equal(got[k], sd[k]) for k in sd), name


def test_module_or_ema_is_an_explicit_choice(tmp_path):
    module, ema = _sd(0), _sd(1)
    torch.save({"module": module, "ema": ema}, tmp_path / "both.pt")
    assert torch.equal(read_state_dict(tmp_path / "both.pt")["a.bias"], module["a.bias"])  # the default
    assert torch.equal(read_state_dict(tmp_path / "both.pt", "module")["a.bias"], module["a.bias"])
    assert torch.equal(read_state_dict(tmp_path / "both.pt", "ema")["a.bias"], ema["a.bias"])
    torch.save({"ema": ema}, tmp_path / "ema_only.pt")
    with pytest.raises(WeightLoadError, match="only an 'ema'"):
        read_state_dict(tmp_path / "ema_only.pt")
    torch.save({"module": module}, tmp_path / "module_only.pt")
    with pytest.raises(WeightLoadError, match="no 'ema' state dict"):
        read_state_dict(tmp_path / "module_only.pt", "ema")
    save_file(module, tmp_path / "one.safetensors")
    with pytest.raises(WeightLoadError, match="leave the key out"):
        read_state_dict(tmp_path / "one.safetensors", "ema")
    with pytest.raises(WeightLoadError, match="must be one of"):
        read_state_dict(tmp_path / "both.pt", "best")


def test_meta_reading_gives_shapes_and_dtypes_only(tmp_path):
    sd = {"w": torch.zeros(5, 2, dtype=torch.bfloat16), "n": torch.zeros(3, dtype=torch.int64)}
    save_file(sd, tmp_path / "w.safetensors")
    torch.save({"module": sd}, tmp_path / "w.pt")
    for name in ("w.safetensors", "w.pt"):
        got = read_state_dict(tmp_path / name, meta=True)
        assert all(v.is_meta for v in got.values())
        assert {k: (tuple(v.shape), v.dtype) for k, v in got.items()} == {
            "w": ((5, 2), torch.bfloat16),
            "n": ((3,), torch.int64),
        }


def test_unreadable_files_are_refused_with_the_reason(tmp_path):
    torch.save({"module": {"x": torch.zeros(1)}, "hook": print}, tmp_path / "evil.pt")
    with pytest.raises(WeightLoadError, match="weights-only"):
        read_state_dict(tmp_path / "evil.pt")
    (tmp_path / "cut.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    with pytest.raises(WeightLoadError, match="cannot read .*cut.safetensors"):
        read_state_dict(tmp_path / "cut.safetensors")
    (tmp_path / "i.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "gone.safetensors"}}))
    with pytest.raises(WeightLoadError, match="partial download"):
        read_state_dict(tmp_path / "i.safetensors.index.json")
    with pytest.raises(WeightLoadError, match="does not exist"):
        read_state_dict(tmp_path / "nothing.pt")


def test_strict_check_names_every_kind_of_mismatch_and_the_file():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state.pop("1.bias")
    state["2.weight"] = torch.zeros(1)
    state["0.weight"] = torch.zeros(5, 3)
    report = compare_keys(model.state_dict(), state)
    assert report.missing == ("1.bias",) and report.unexpected == ("2.weight",)
    assert report.wrong_shape == (("0.weight", (5, 3), (4, 3)),)
    with pytest.raises(WeightLoadError) as e:
        check_state_dict(model, state, "dir/model.safetensors")
    msg = str(e.value)
    assert all(s in msg for s in ("1.bias", "2.weight", "0.weight", "(5, 3)", "dir/model.safetensors"))
    fresh = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    load_strict(fresh, model.state_dict(), "ok")
    assert all(
        torch.equal(a, b)
        for a, b in zip(fresh.state_dict().values(), model.state_dict().values(), strict=True)
    )


def _fp8_checkpoint(tmp_path, with_map=True, map_under_module=True):
    """A release-style fp8 file: block Linear weights as float8_e4m3fn with a per-layer scale map."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 6, generator=g) * 0.3
    scale = w.abs().max() / 448.0
    state = {
        "double_blocks.0.img_mod.linear.weight": (w / scale).to(torch.float8_e4m3fn),
        "double_blocks.0.img_mod.linear.bias": torch.randn(8, generator=g).to(torch.bfloat16),
        "img_in.proj.weight": torch.randn(4, 2, generator=g).to(torch.bfloat16),
    }
    path = tmp_path / "mp_rank_00_model_states_fp8.pt"
    torch.save({"module": state}, path)
    scales = {"double_blocks.0.img_mod.linear": scale.reshape(1)}
    if with_map:
        torch.save({"module": scales} if map_under_module else scales, scale_map_path(path))
    return path, state, scales


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("under_module", [True, False])
def test_fp8_is_dequantized_with_its_scales_as_the_release_does(tmp_path, dtype, under_module):
    path, state, scales = _fp8_checkpoint(tmp_path, map_under_module=under_module)
    assert scale_map_path(path).name == "mp_rank_00_model_states_fp8_map.pt"
    got = read_state_dict(path, fp8_dtype=dtype)
    key = "double_blocks.0.img_mod.linear.weight"
    # the release's forward: weight.to(dtype) * scale.to(dtype)
    expected = state[key].to(dtype) * scales["double_blocks.0.img_mod.linear"].to(dtype)
    assert got[key].dtype == dtype and torch.equal(got[key], expected)
    assert torch.equal(got["img_in.proj.weight"], state["img_in.proj.weight"])  # not fp8: untouched
    # and it is the weight, not the raw codes: a plain cast would be ~448x too large
    raw = state[key].to(torch.float32)
    assert got[key].float().abs().max() < raw.abs().max() / 100
    assert torch.equal(dequantize(state[key], scales["double_blocks.0.img_mod.linear"], dtype), expected)


def test_fp8_without_its_scale_map_is_refused(tmp_path):
    path, _, _ = _fp8_checkpoint(tmp_path, with_map=False)
    for meta in (False, True):
        with pytest.raises(WeightLoadError, match="mp_rank_00_model_states_fp8_map.pt"):
            read_state_dict(path, meta=meta)


def test_fp8_tensor_without_a_scale_is_named(tmp_path):
    path, state, _ = _fp8_checkpoint(tmp_path)
    state["single_blocks.0.linear1.weight"] = torch.zeros(4, 4).to(torch.float8_e4m3fn)
    torch.save({"module": state}, path)
    with pytest.raises(WeightLoadError, match="single_blocks.0.linear1.weight"):
        read_state_dict(path)
