"""load_vae / save_vae across the Tencent and vitascope layouts, and strict-load errors."""

import json

import pytest
import torch

from _helpers import reseed_parameters
from vitascope.errors import ModelFolderError, WeightLoadError
from vitascope.models.vae import CausalVAE3D, VAEConfig, load_vae, save_vae

TENCENT_KEYS = {  # Tencent's config.json spelling of the tiny config
    "_class_name": "AutoencoderKLCausal3D",
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 16,
    "block_out_channels": [8, 16, 16, 16],
    "layers_per_block": 1,
    "norm_num_groups": 4,
    "act_fn": "silu",
    "down_block_types": ["DownEncoderBlockCausal3D"] * 4,
    "up_block_types": ["UpDecoderBlockCausal3D"] * 4,
    "sample_size": 256,
    "sample_tsize": 64,
    "scaling_factor": 0.476986,
    "time_compression_ratio": 4,
    "mid_block_add_attention": True,
}


@pytest.fixture(scope="module")
def vae():
    model = CausalVAE3D(VAEConfig.tiny()).eval()
    reseed_parameters(model, 0)
    return model


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_save_then_load_our_layout(vae, tmp_path):
    save_vae(vae, tmp_path / "vae")
    assert sorted(p.name for p in (tmp_path / "vae").iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_vae(tmp_path / "vae")
    assert loaded.config == vae.config and _same_weights(loaded, vae)
    z = torch.randn(1, 16, 2, 2, 2)
    with torch.no_grad():
        assert torch.equal(loaded.decode(z), vae.decode(z))
    # the model root works too (a `vae/` subfolder is looked for), and so does a dtype
    assert load_vae(tmp_path, dtype=torch.bfloat16).post_quant_conv.weight.dtype == torch.bfloat16


def test_load_tencent_layout_with_wrapper_and_prefix(vae, tmp_path):
    folder = tmp_path / "hunyuan-video-t2v-720p" / "vae"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(TENCENT_KEYS))
    wrapped = {"state_dict": {f"vae.{k}": v.clone() for k, v in vae.state_dict().items()}}
    torch.save(wrapped, folder / "pytorch_model.pt")
    for path in (folder.parent, folder, folder / "pytorch_model.pt"):
        loaded = load_vae(path)
        assert loaded.config == vae.config and _same_weights(loaded, vae)


def test_strict_load_names_missing_and_unexpected_keys(vae, tmp_path):
    state = {k: v.clone() for k, v in vae.state_dict().items()}
    state.pop("decoder.conv_out.conv.weight")
    state.pop("encoder.mid_block.attentions.0.to_q.bias")
    state["decoder.extra_head.weight"] = torch.zeros(3)
    (tmp_path / "config.json").write_text(json.dumps(TENCENT_KEYS))
    torch.save(state, tmp_path / "pytorch_model.pt")
    with pytest.raises(WeightLoadError) as err:
        load_vae(tmp_path)
    msg = str(err.value)
    assert (
        "2 missing" in msg
        and "decoder.conv_out.conv.weight" in msg
        and "encoder.mid_block.attentions.0.to_q.bias" in msg
    )
    assert "1 unexpected" in msg and "decoder.extra_head.weight" in msg
    assert "pytorch_model.pt" in msg


def test_strict_load_names_wrong_shapes(vae, tmp_path):
    save_vae(vae, tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["block_out_channels"] = [8, 16, 16, 32]  # config that does not belong to these weights
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(WeightLoadError, match=r"wrong shape: .*more\)"):
        load_vae(tmp_path)


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(ModelFolderError, match="expected config.json"):
        load_vae(tmp_path)
    with pytest.raises(ModelFolderError, match="no such"):
        load_vae(tmp_path / "nope")
    (tmp_path / "w.safetensors").write_bytes(b"")
    with pytest.raises(ModelFolderError, match="no config.json"):
        load_vae(tmp_path / "w.safetensors")
