import dataclasses

import pytest
import torch

from vitascope.convert.tencent import infer_dit_config
from vitascope.models.dit import DiTConfig, HunyuanVideoDiT
from vitascope.specs import (
    DIT_PRESETS,
    HUNYUAN_I2V_LATENT_CONCAT,
    HUNYUAN_I2V_TOKEN_REPLACE,
    HUNYUAN_T2V,
    TINY,
)


def _count(cfg):
    with torch.device("meta"):
        return sum(p.numel() for p in HunyuanVideoDiT(cfg).parameters())


def test_t2v_preset_has_the_published_parameter_count():
    assert _count(HUNYUAN_T2V) == 12_821_012_544


def test_i2v_presets():
    # latent concat: 17 more input channels in the patch embed (3072 x 17 x 1 x 2 x 2) and no guidance_in
    guidance_in = 256 * 3072 + 3072 + 3072 * 3072 + 3072
    assert _count(HUNYUAN_I2V_LATENT_CONCAT) == 12_821_012_544 + 3072 * 17 * 4 - guidance_in
    assert _count(HUNYUAN_I2V_TOKEN_REPLACE) == 12_821_012_544  # no new weights, as the release says
    assert set(DIT_PRESETS) >= {"hunyuan-video-t2v", "hunyuan-video-i2v", "tiny"}


@pytest.mark.parametrize("cfg", [HUNYUAN_T2V, HUNYUAN_I2V_LATENT_CONCAT, HUNYUAN_I2V_TOKEN_REPLACE])
def test_config_is_read_back_from_tencent_weights(cfg):
    with torch.device("meta"):
        sd = HunyuanVideoDiT(cfg).state_dict()
    assert infer_dit_config(sd, i2v=cfg.image_condition_type is not None) == cfg


def test_config_errors_say_what_to_fix():
    with pytest.raises(ValueError, match="rope_dim_list"):
        DiTConfig(hidden_size=64, heads_num=2)
    with pytest.raises(ValueError, match="in_channels = 2"):
        dataclasses.replace(TINY, image_condition_type="latent_concat")
    with pytest.raises(ValueError, match="unknown DiT config keys"):
        DiTConfig.from_dict({"hidden": 3})


@torch.no_grad()
def test_token_replace_only_changes_frame_zero_modulation():
    """Token replace modulates frame-0 tokens with the t=0 vector: with it, frame 0's output no longer depends
    on t through the modulation, and T2V (token_replace=False) output differs."""
    from _helpers import reseed_parameters

    model = HunyuanVideoDiT(dataclasses.replace(TINY, mm_single_blocks_depth=0))
    reseed_parameters(model, 0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 16, 2, 4, 4, generator=g)
    txt, mask, pooled = torch.randn(1, 3, 24, generator=g), torch.ones(1, 3), torch.randn(1, 20, generator=g)
    a = model(x, torch.tensor([800.0]), txt, mask, pooled, torch.tensor([6000.0]), token_replace=True)
    b = model(x, torch.tensor([800.0]), txt, mask, pooled, torch.tensor([6000.0]), token_replace=False)
    assert (a - b).abs()[:, :, 0].max() > 1e-3
    # the guidance does not reach the frame-0 modulation vector (no guidance in tr_vec, by design)
    assert model.guidance_in is not None
