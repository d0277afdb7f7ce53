"""One model, three layouts: a diffusers save_pretrained folder converted to Tencent's and ours gives the
diffusers frames in each; strict loading names what is wrong."""

import numpy as np
import pytest
import torch
from pipe_builders import tiny_diffusers_t2v

import vitascope
from vitascope.convert.layouts import convert_folder
from vitascope.errors import ModelFolderError, WeightLoadError
from vitascope.pipelines.folder import detect_folder
from vitascope.pipelines.options import GenerationOptions

PROMPT = "a blue square moving up on a black background"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    pipe = tiny_diffusers_t2v(shift=5.0)
    root = tmp_path_factory.mktemp("layouts")
    pipe.save_pretrained(root / "diffusers")
    ref = pipe(
        prompt=PROMPT,
        height=32,
        width=32,
        num_frames=5,
        num_inference_steps=3,
        guidance_scale=6.0,
        generator=torch.Generator("cpu").manual_seed(3),
        output_type="np",
    ).frames[0]
    return root, ref


def _ours(folder):
    pipe = vitascope.load_pipeline(folder)
    opts = GenerationOptions(
        prompt=PROMPT, height=32, width=32, frames=5, steps=3, seed=3, guidance=6.0, flow_shift=5.0
    )
    return pipe, pipe.generate(opts).video


@pytest.mark.parametrize("chain", [("tencent",), ("vitascope",), ("tencent", "diffusers")])
def test_converted_folders_give_the_reference_frames(reference, chain):
    root, ref = reference
    src = root / "diffusers"
    for to in chain:
        dst = root / ("_".join(chain) + "_" + to)
        if not dst.exists():
            convert_folder(src, dst, to)
        src = dst
    assert detect_folder(src).layout == chain[-1]
    pipe, video = _ours(src)
    assert pipe.identity["layout"] == chain[-1]
    assert np.abs(video - ref).max() <= 1e-3


def test_tencent_file_is_deepspeed_style_and_weights_only(reference):
    root, _ = reference
    dst = root / "tencent_check"
    convert_folder(root / "diffusers", dst, "tencent")
    pt = dst / "hunyuan-video-t2v-720p" / "transformers" / "mp_rank_00_model_states.pt"
    obj = torch.load(pt, weights_only=True)
    assert set(obj) == {"module"} and "double_blocks.0.img_attn_qkv.weight" in obj["module"]


def test_strict_loading_names_missing_and_unexpected_keys(reference, tmp_path):
    root, _ = reference
    dst = tmp_path / "broken"
    convert_folder(root / "diffusers", dst, "tencent")
    pt = dst / "hunyuan-video-t2v-720p" / "transformers" / "mp_rank_00_model_states.pt"
    sd = torch.load(pt, weights_only=True)["module"]
    sd.pop("final_layer.linear.bias")
    sd["extra.weight"] = torch.zeros(1)
    torch.save({"module": sd}, pt)
    with pytest.raises(WeightLoadError) as e:
        vitascope.load_pipeline(dst)
    msg = str(e.value)
    assert "final_layer.linear.bias" in msg and "extra.weight" in msg and "mp_rank_00_model_states.pt" in msg


def test_pickled_code_is_refused(reference, tmp_path):
    """A .pt holding arbitrary objects is never unpickled (weights_only=True)."""
    root, _ = reference
    dst = tmp_path / "evil"
    convert_folder(root / "diffusers", dst, "tencent")
    pt = dst / "hunyuan-video-t2v-720p" / "transformers" / "mp_rank_00_model_states.pt"
    torch.save({"module": {"x": torch.zeros(1)}, "hook": print}, pt)  # `print` pickles as a global reference
    with pytest.raises(WeightLoadError, match="weights-only"):
        vitascope.load_pipeline(dst)


def test_wrong_kind_of_folder(tmp_path):
    (tmp_path / "model_index.json").write_text('{"_class_name": "FluxPipeline"}')
    with pytest.raises(ModelFolderError, match="FluxPipeline"):
        vitascope.load_pipeline(tmp_path)
    with pytest.raises(ModelFolderError, match="not a model folder"):
        vitascope.load_pipeline(tmp_path / "..")
    with pytest.raises(ModelFolderError, match="does not exist"):
        vitascope.load_pipeline(tmp_path / "nope")
