"""Tencent release folders: module or ema, the Avatar release's weights/ tree, fp8 with its scale map, and
`vitascope inspect` on folders and single files (through the CLI's own entry point, in process to stay fast:
one error line, never a traceback)."""

import shutil
import sys

import pytest
import torch

from release_folders import avatar_state, dit_state, quantize_blocks, tencent_release
from vitascope import cli
from vitascope.convert.folder import detect_folder
from vitascope.convert.loader import load_dit
from vitascope.errors import WeightLoadError
from vitascope.io.fp8 import dequantize
from vitascope.pipelines.loader import demo_model_path


@pytest.fixture(scope="module")
def tiny():
    return demo_model_path()  # small and already on disk; only read from


class _Run:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run_cli(capsys, monkeypatch):
    def run(*args):
        monkeypatch.setattr(sys, "argv", ["vitascope", *map(str, args)])
        code = 0
        try:
            cli.main()
        except SystemExit as e:
            code = e.code or 0
        out = capsys.readouterr()
        return _Run(code, out.out, out.err)

    return run


def test_module_or_ema_loads_as_chosen(tiny, tmp_path):
    module = dit_state(tiny)
    ema = {k: v + 0.5 for k, v in module.items()}
    folder = detect_folder(tencent_release(tiny, tmp_path / "ckpts", module, ema=ema))
    for key, want in ((None, module), ("module", module), ("ema", ema)):
        dit = load_dit(folder, weights_key=key)
        assert torch.equal(dit.state_dict()["img_in.proj.weight"], want["img_in.proj.weight"]), key


@pytest.mark.parametrize("given", ["weights", "weights/ckpts", "weights/ckpts/hunyuan-video-t2v-720p"])
def test_avatar_release_tree_is_recognised_from_any_level(tiny, tmp_path, given):
    tencent_release(tiny, tmp_path / "weights" / "ckpts", avatar=True)
    folder = detect_folder(tmp_path / given)
    ckpts = tmp_path / "weights" / "ckpts"
    assert folder.layout == "tencent" and folder.meta["release"] == "avatar"
    assert (
        folder.transformer == ckpts / "hunyuan-video-t2v-720p" / "transformers" / "mp_rank_00_model_states.pt"
    )
    assert (
        folder.text_encoder == ckpts / "llava_llama_image"
        and folder.text_encoder_2 == ckpts / "text_encoder_2"
    )
    assert folder.audio_encoder == ckpts / "whisper-tiny" and folder.face_detector == ckpts / "det_align"
    if given == "weights":  # the Avatar DiT class is chosen from the keys and loads strictly
        from vitascope.models.audio.avatar_dit import AvatarDiT

        dit = load_dit(folder)
        want = avatar_state(tiny)
        assert isinstance(dit, AvatarDiT) and dit.state_dict().keys() == want.keys()
        assert all(torch.equal(dit.state_dict()[k], want[k]) for k in want)


def test_inspect_reports_the_avatar_variant_and_its_parts(tiny, tmp_path, run_cli):
    tencent_release(tiny, tmp_path / "weights" / "ckpts", avatar=True)
    r = run_cli("inspect", tmp_path / "weights")
    assert r.returncode == 0, r.stderr
    assert "variant:    avatar" in r.stdout and "layout:     tencent" in r.stdout
    assert "every key and shape fits the variant" in r.stdout
    assert "whisper-tiny" in r.stdout and "det_align" in r.stdout


def test_inspect_names_the_keys_that_do_not_fit(tiny, tmp_path, run_cli):
    state = dit_state(tiny)
    state.pop("final_layer.linear.bias")
    state["double_blocks.0.img_attn_qkv.weight"] = torch.zeros(3, 3)
    state["surprise.weight"] = torch.zeros(1)
    root = tencent_release(tiny, tmp_path / "ckpts", state)
    r = run_cli("inspect", root)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    for key in ("final_layer.linear.bias", "surprise.weight", "double_blocks.0.img_attn_qkv.weight"):
        assert key in r.stdout and key in r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")


def test_inspect_a_single_file_and_a_partial_download(tiny, tmp_path, run_cli):
    r = run_cli("inspect", tiny / "transformer" / "model.safetensors")
    assert r.returncode == 0, r.stderr
    assert "single file, Tencent key names" in r.stdout and "parameters:" in r.stdout
    assert "float32" in r.stdout and "every key and shape fits" in r.stdout
    root = tencent_release(tiny, tmp_path / "ckpts")
    shutil.rmtree(root / "hunyuan-video-t2v-720p" / "vae")
    r = run_cli("inspect", root)
    assert r.returncode != 0 and "the VAE folder" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fp8_release_file_loads_dequantized_with_its_scales(tiny, tmp_path, dtype):
    state = dit_state(tiny)
    root = tencent_release(tiny, tmp_path / "ckpts", state, fp8=True)
    folder = detect_folder(root)
    assert folder.transformer.name == "mp_rank_00_model_states_fp8.pt"  # used when the bf16 file is absent
    dit = load_dit(folder, dtype=dtype)
    codes, scales = quantize_blocks(state)
    key = "single_blocks.0.linear1.weight"
    assert torch.equal(dit.state_dict()[key], dequantize(codes[key], scales[key[:-7]], dtype))
    assert torch.equal(dit.state_dict()["img_in.proj.weight"], state["img_in.proj.weight"].to(dtype))


def test_inspect_fp8_file_with_and_without_its_scale_map(tiny, tmp_path, run_cli):
    root = tencent_release(tiny, tmp_path / "ckpts", fp8=True)
    folder = detect_folder(root)
    r = run_cli("inspect", root)
    assert r.returncode == 0 and "float8_e4m3fn" in r.stdout and "_fp8_map.pt" in r.stdout
    (folder.transformer.parent / "mp_rank_00_model_states_fp8_map.pt").unlink()
    r = run_cli("inspect", root)
    assert r.returncode != 0 and "scale map" in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(WeightLoadError, match="scale map"):
        load_dit(detect_folder(root))


def test_inspect_names_avatar_keys_missing_from_a_partial_file(tiny, tmp_path, run_cli):
    state = avatar_state(tiny)
    for k in [k for k in state if k.startswith("audio_adapter_blocks.3.")]:
        state.pop(k)
    tencent_release(tiny, tmp_path / "weights" / "ckpts", state, avatar=True)
    r = run_cli("inspect", tmp_path / "weights")
    assert (
        r.returncode == 2
        and "avatar variant" in r.stderr
        and "audio_adapter_blocks.3.to_q.weight" in r.stderr
    )
