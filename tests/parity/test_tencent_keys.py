"""Our module names are Tencent's: checked against diffusers' own Tencent->diffusers single-file converter.

That converter hard-codes width 3072, so this uses a full-width model with one double and one single block
(bf16, ~1.6 GB of random weights; a few seconds).
"""

import dataclasses

import torch
from diffusers.loaders.single_file_utils import convert_hunyuan_video_transformer_to_diffusers

from vitascope.convert.diffusers_dit import tencent_to_diffusers
from vitascope.models.dit import HunyuanVideoDiT
from vitascope.specs import HUNYUAN_T2V


@torch.no_grad()
def test_tencent_names_match_diffusers_single_file_converter():
    cfg = dataclasses.replace(HUNYUAN_T2V, mm_double_blocks_depth=1, mm_single_blocks_depth=1)
    with torch.device("meta"):
        model = HunyuanVideoDiT(cfg)
    g = torch.Generator().manual_seed(0)
    ours = {k: torch.randn(v.shape, generator=g, dtype=torch.bfloat16) for k, v in model.state_dict().items()}
    theirs = convert_hunyuan_video_transformer_to_diffusers(dict(ours))
    mine = tencent_to_diffusers(ours)
    # diffusers' converter also emits parameter-free norm keys it never loads; only keys with tensors count.
    assert set(mine) == set(theirs)
    for k in mine:
        assert torch.equal(mine[k], theirs[k]), k
