"""Recipes of the bundled avatar demo (`vitascope train --recipe demo-avatar`), registered in recipes.RECIPES.

demo-avatar-vae   the demo VAE fine-tuned on talking-world clips (64x64, 30% hue-rotated, mouths weighted)
demo-avatar-1     the Avatar DiT, stage 1 (audio + reference + face mask) on that VAE's latents (run name
                  demo-avatar)
demo-avatar-2     stage 2: emotion references and two-face clips (one silent track), from stage 1
demo-avatar       the three in order
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from vitascope.models.dit.config import DiTConfig
from vitascope.train.buckets import Bucket
from vitascope.train.options import VAEOptions
from vitascope.train.recipes import DEMO_VAE, Recipe, Stage

AVATAR_SIZE = 64  # 128 costs 4x in the VAE, which dominates training and generation on a CPU
# the shapes demo's VAE (bundled): the avatar demo's VAE, and the start of demo-avatar-vae
DEMO_VAE_FOLDER = str(Path(__file__).resolve().parents[1] / "assets" / "demo" / "vae")


AVATAR_VAE_STEPS = 1200  # planned; a --max-seconds run exports where it stopped (docs/training.md)


def demo_avatar_vae() -> Recipe:
    """The demo VAE (4x spatial, 4x temporal, 8 channels) refined on talking faces at the avatar size.

    The shapes VAE reconstructs faces at 10-20 dB (its world has black backdrops and five colours; skin
    comes out green-grey) and loses mouth openings, which caps the avatar's first frame and lip sync
    whatever the DiT does (train/avatar_vae_eval.py measures it). It starts from the bundled demo's
    VAE (the shipped weights started from an 800-step demo-vae-palette export instead: docs/training.md);
    30% of the clips are hue-rotated so skins and backdrops of any tint survive, not only the world's six
    of each. Mouths weigh 1 + 6."""
    return Recipe(
        name="demo-avatar-vae",
        kind="vae",
        vae=DEMO_VAE,
        stages=(
            Stage(
                "64px",
                AVATAR_VAE_STEPS,
                (Bucket(1, AVATAR_SIZE, AVATAR_SIZE, 8), Bucket(9, AVATAR_SIZE, AVATAR_SIZE, 4, weight=3.0)),
            ),
        ),
        lr=3e-4,
        warmup_steps=20,
        ema_decay=0.99,
        adv_weight=0.0,
        lpips_weight=0.0,
        frame_interval=(1, 1),
        log_every=20,
        checkpoint_every=50,
        seed=5,
        vae_options=VAEOptions(
            sample_posterior=False,
            mse_weight=1.0,
            l1_weight=0.0,
            init_from=DEMO_VAE_FOLDER,
            fg_weight=6.0,
            world="faces",
            hue_fraction=0.3,
        ),
    )


# The avatar DiT: narrow and shallow for 2 CPU cores; four double blocks so that two audio adapters run
# (the release puts one after every other double block); head dim 32.
AVATAR_DIT = DiTConfig(
    in_channels=8,
    out_channels=8,
    hidden_size=96,
    heads_num=3,
    mlp_width_ratio=2.0,
    mm_double_blocks_depth=4,
    mm_single_blocks_depth=1,
    rope_dim_list=(8, 12, 12),
    text_states_dim=32,
    text_states_dim_2=32,
    refiner_depth=1,
    guidance_embed=False,
)
AVATAR_WINDOW = 5  # latent frames (17 video frames) per window
AVATAR_STAGE1_STEPS = 10000
AVATAR_DEFAULTS = {"image_size": AVATAR_SIZE, "steps": 10, "cfg_scale": 3.0, "flow_shift": 3.0, "fps": 25.0}


def demo_avatar_stage1() -> Recipe:
    """Stage 1 of the paper: audio + reference + face mask, one face per clip."""
    frames = 4 * AVATAR_WINDOW - 3
    return Recipe(
        name="demo-avatar",
        kind="avatar",
        dit=AVATAR_DIT,
        # the face VAE (its run under the same --out): the shapes one caps faces at ~15 dB (docs/avatar.md)
        vae_from="demo-avatar-vae",
        stages=(Stage("64px", AVATAR_STAGE1_STEPS, (Bucket(frames, AVATAR_SIZE, AVATAR_SIZE, 4),)),),
        lr=1e-3,
        warmup_steps=20,
        ema_decay=0.99,
        t_shift=2.0,
        log_every=10,
        checkpoint_every=200,  # --max-seconds also checkpoints where it stops
        seed=11,
        avatar_options={
            "window": AVATAR_WINDOW,
            "clip_frames": 33,
            # 384 clips, not 64: on 64 the model copied the reference and left the mouth to chance
            "pool_size": 384,
            "mouth_weight": 8.0,
            "motion_weight": 50.0,
            "defaults": AVATAR_DEFAULTS,
        },
    )


def demo_avatar_stage2() -> Recipe:
    """Stage 2 of the paper on top of stage 1: the emotion module (a frame of another clip with the same
    expression, zero-initialised cross-attention) and two-face clips with one silent track (64x128)."""
    base = demo_avatar_stage1()
    frames = 4 * AVATAR_WINDOW - 3
    return base.replace(
        name="demo-avatar-2",
        stages=(
            Stage(
                "64px-emotion-duo",
                3000,
                (
                    Bucket(frames, AVATAR_SIZE, AVATAR_SIZE, 4),
                    Bucket(frames, AVATAR_SIZE, 2 * AVATAR_SIZE, 2),
                ),
            ),
        ),
        lr=5e-4,
        seed=12,
        avatar_options=dataclasses.replace(
            base.avatar_options,
            data="mixed",
            emotion=True,
            emotion_swap=0.7,  # most photos in another expression: the expression must come from the reference
            init_from="demo-avatar",  # the run folder of stage 1 (recipe name demo-avatar)
            encoders_from="demo-avatar",
        ),
    )


def demo_avatar() -> list[Recipe]:
    """The recorded recipe of the bundled avatar demo: the face VAE, stage 1 on its latents, then stage 2
    on stage 1's weights."""
    return [demo_avatar_vae(), demo_avatar_stage1(), demo_avatar_stage2()]


def tiny_avatar(vae_from: str) -> Recipe:
    """Seconds-long avatar run on a tiny DiT (tests, smoke runs): `vae_from` is a VAE folder (16 channels)."""
    dit = DiTConfig(
        in_channels=16, out_channels=16, hidden_size=32, heads_num=2, mm_double_blocks_depth=2,
        mm_single_blocks_depth=1, rope_dim_list=(4, 6, 6), text_states_dim=32, text_states_dim_2=32,
        guidance_embed=False,
    )  # fmt: skip
    return Recipe(
        name="tiny-avatar",
        kind="avatar",
        dit=dit,
        vae_from=vae_from,
        stages=(Stage("a", 2, (Bucket(5, 64, 64, 2),)), Stage("b", 2, (Bucket(5, 64, 64, 2),))),
        lr=1e-3,
        ema_decay=0.9,
        log_every=1,
        checkpoint_every=2,
        avatar_options={
            "window": 2, "clip_frames": 9, "pool_size": 2, "whisper_width": 16, "whisper_layers": 1,
            "audio_hidden": 32, "adapter_dim_head": 16, "defaults": {"image_size": 64, "steps": 2},
            "motion_weight": 1.0, "sync_weight": 1.0,
        },
    )  # fmt: skip


AVATAR_RECIPES = {
    "demo-avatar": demo_avatar,
    "demo-avatar-1": demo_avatar_stage1,
    "demo-avatar-2": demo_avatar_stage2,
    "demo-avatar-vae": demo_avatar_vae,
}
