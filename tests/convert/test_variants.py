"""The DiT class is chosen from the keys (and shapes) a checkpoint holds, through a registry."""

import pytest
import torch
from torch import nn

from vitascope.errors import WeightLoadError
from vitascope.models.dit import HunyuanVideoDiT
from vitascope.models.dit.variants import _REGISTRY, build_dit, detect_variant, register_dit
from vitascope.pipelines.tiny import tiny_dit_config
from vitascope.specs import TINY


def _shapes(config):
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in HunyuanVideoDiT(config).state_dict().items()}


def test_released_variants_are_told_apart():
    t2v, tr, lc = TINY, tiny_dit_config("token_replace"), tiny_dit_config("latent_concat")
    assert detect_variant(_shapes(t2v), t2v).name == "t2v"
    assert detect_variant(_shapes(tr), tr).name == "i2v-token-replace"  # same keys as T2V: the config says
    assert detect_variant(_shapes(lc), lc).name == "i2v-latent-concat"
    assert detect_variant(_shapes(lc), None).name == "i2v-latent-concat"  # 33 input channels suffice
    shapes = {
        **_shapes(t2v),
        "audio_adapter_blocks.0.to_q.weight": (1024, 3072),
        "fps_proj.mlp.0.weight": (3, 4),
    }
    avatar = detect_variant(shapes, t2v)
    assert avatar.name == "avatar"
    with pytest.raises(WeightLoadError, match="an Avatar checkpoint needs"):
        build_dit(avatar, t2v, shapes)


def test_a_registered_variant_is_built_for_its_keys():
    class ToyDiT(HunyuanVideoDiT):
        def __init__(self, config):
            super().__init__(config)
            self.toy_in = nn.Linear(3, config.hidden_size)

    try:
        # its own name: the real "pose" variant stays registered for the rest of the session
        register_dit("toy_pose", lambda s, c: "toy_in.weight" in s, lambda c, s: ToyDiT(c), priority=50)
        shapes = {**_shapes(TINY), "toy_in.weight": (32, 3), "toy_in.bias": (32,)}
        variant = detect_variant(shapes, TINY)
        assert variant.name == "toy_pose"
        with torch.device("meta"):
            model = build_dit(variant, TINY, shapes)
        assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == shapes
        assert detect_variant(_shapes(TINY), TINY).name == "t2v"
    finally:
        _REGISTRY.pop("toy_pose")


def test_a_lazy_builder_is_imported_only_when_needed():
    from vitascope.models.dit.variants import _Lazy

    try:
        register_dit(
            "lazy", lambda s, c: "lazy_in.weight" in s, _Lazy("vitascope.models.dit.variants", "_base")
        )
        variant = detect_variant({**_shapes(TINY), "lazy_in.weight": (1,)}, TINY)
        with torch.device("meta"):
            assert isinstance(build_dit(variant, TINY, _shapes(TINY)), HunyuanVideoDiT)
        assert _Lazy("vitascope.models.nowhere.at_all", "build").resolve() is None
    finally:
        _REGISTRY.pop("lazy")
