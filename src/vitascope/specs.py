"""Presets as data: the released HunyuanVideo models and the small ones we test and ship with."""

from __future__ import annotations

from vitascope.models.dit.config import DiTConfig

# The 13B text-to-video model, cfg-distilled (`HYVideo-T/2-cfgdistill`).
HUNYUAN_T2V = DiTConfig()
# I2V, token replace (the 2025-03-07 weights): 16 channels, guidance embedded.
HUNYUAN_I2V_TOKEN_REPLACE = DiTConfig(image_condition_type="token_replace")
# I2V, latent concat (the first release): 33 input channels, no guidance embedding.
HUNYUAN_I2V_LATENT_CONCAT = DiTConfig(
    in_channels=33, guidance_embed=False, image_condition_type="latent_concat"
)
# Tiny: for tests; every axis is exercised (2 heads, RoPE on all three axes, both block kinds).
TINY = DiTConfig(
    hidden_size=32,
    heads_num=2,
    mm_double_blocks_depth=1,
    mm_single_blocks_depth=1,
    rope_dim_list=(4, 6, 6),
    text_states_dim=24,
    text_states_dim_2=20,
)

DIT_PRESETS = {
    "hunyuan-video-t2v": HUNYUAN_T2V,
    "hunyuan-video-i2v": HUNYUAN_I2V_TOKEN_REPLACE,
    "hunyuan-video-i2v-33ch": HUNYUAN_I2V_LATENT_CONCAT,
    "tiny": TINY,
}
