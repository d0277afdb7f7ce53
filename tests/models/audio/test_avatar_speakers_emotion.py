"""Several speakers and the emotion module of the Avatar DiT (ours; the release has neither)."""

import pytest
import torch

from vitascope.models.audio.avatar_dit import AvatarDiT, avatar_config

H, W = 4, 8  # latent grid; tokens (patch 2x2): 2 x 4


def _tiny(seed=0, emotion=False, randomize_emotion=True):
    cfg = avatar_config(
        hidden_size=64, heads_num=2, rope_dim_list=(8, 12, 12), mm_double_blocks_depth=2,
        mm_single_blocks_depth=1, text_states_dim=16, text_states_dim_2=8,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = AvatarDiT(cfg, audio_channels=4, adapter_dim_head=32, audio_hidden=32, emotion=emotion).eval()
    for name, p in model.named_parameters():
        if randomize_emotion or not name.startswith(("emotion_in.", "emotion_blocks.")):
            p.data.normal_(0, 0.2)
    return model


def _inputs(T=2, speakers=None):
    g = torch.Generator().manual_seed(3)
    audio_shape = (1, 4 * T - 3, 10, 5, 4) if speakers is None else (1, speakers, 4 * T - 3, 10, 5, 4)
    return dict(
        x=torch.randn(1, 16, T, H, W, generator=g),
        t=torch.full((1,), 500.0),
        text_states=torch.randn(1, 3, 16, generator=g),
        text_mask=torch.ones(1, 3, dtype=torch.long),
        text_states_2=torch.randn(1, 8, generator=g),
        ref_latents=torch.randn(1, 16, T, H, W, generator=g),
        audio=torch.randn(*audio_shape, generator=g),
        face_mask=torch.ones(1, 1, 1, H, W),
        motion_exp=torch.full((1, 4), 30.0),
        motion_pose=torch.full((1, 4), 25.0),
        fps=torch.full((1,), 25.0),
    )


def _halves():
    """[1, 2, 1, H, W]: speaker 1 owns the left half, speaker 2 the right half."""
    m = torch.zeros(1, 2, 1, H, W)
    m[:, 0, ..., : W // 2] = 1
    m[:, 1, ..., W // 2 :] = 1
    return m


def _first_adapter_output(model, inp):
    """The image tokens [1, T*H*W, D] right after the first audio adapter (after double block 1)."""
    seen = {}
    orig = model.after_double

    def spy(i, ctx):
        orig(i, ctx)
        if i == 1:
            seen["img"] = ctx.img[:, ctx.n_prefix :].clone()

    model.after_double = spy
    try:
        model(**inp)
    finally:
        del model.after_double
    return seen["img"]


@torch.no_grad()
def test_one_speaker_as_n_equals_one_matches_the_release_path():
    model, inp = _tiny(), _inputs()
    one = model(**inp)
    six = inp | {"audio": inp["audio"][:, None], "face_mask": inp["face_mask"]}
    torch.testing.assert_close(model(**six), one, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_second_speaker_moves_only_its_own_face():
    model, inp = _tiny(), _inputs(speakers=2)
    inp["face_mask"] = _halves()
    other = inp["audio"].clone()
    other[:, 1] = torch.randn(other[:, 1].shape, generator=torch.Generator().manual_seed(9))
    a = _first_adapter_output(model, inp).view(1, 2, H // 2, W // 2, -1)  # [1, T, h, w, D] tokens
    b = _first_adapter_output(model, inp | {"audio": other}).view(1, 2, H // 2, W // 2, -1)
    diff = (a - b).abs().amax(dim=(0, 1, 4))  # [h, w]
    assert (diff[:, : W // 4] == 0).all()  # speaker 1's face (left) is untouched by speaker 2's voice
    assert (diff[:, W // 4 :] > 1e-4).all()  # speaker 2's face moves with it
    # and the final output differs (attention spreads it after the adapter)
    assert not torch.allclose(model(**inp), model(**(inp | {"audio": other})), atol=1e-5)
    with pytest.raises(ValueError, match="2 speaker"):
        model(**(inp | {"face_mask": torch.ones(1, 1, 1, H, W)}))


@torch.no_grad()
def test_two_speakers_sum_their_adapters():
    """Masks [1, 1] and [0, 0]: the same result as speaker 1 alone with a full mask."""
    model, inp = _tiny(), _inputs(speakers=2)
    masks = torch.cat([torch.ones(1, 1, 1, H, W), torch.zeros(1, 1, 1, H, W)], dim=1)
    both = model(**(inp | {"face_mask": masks}))
    alone = model(**(inp | {"audio": inp["audio"][:, 0], "face_mask": masks[:, :1]}))
    torch.testing.assert_close(both, alone, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_emotion_zero_init_is_a_no_op_and_trained_weights_act():
    plain, inp = _tiny(), _inputs()
    emo = _tiny(emotion=True, randomize_emotion=False)
    emo.load_state_dict(plain.state_dict(), strict=False)
    latents = torch.randn(1, 16, 1, H, W, generator=torch.Generator().manual_seed(4))
    base = plain(**inp)
    torch.testing.assert_close(emo(**inp), base, rtol=0, atol=0)  # absent: the module is skipped
    torch.testing.assert_close(emo(**(inp | {"emotion_latents": latents})), base, rtol=0, atol=0)  # zero init
    for blk in emo.emotion_blocks:
        torch.nn.init.normal_(blk.to_out.weight, 0, 0.2)
    happy = emo(**(inp | {"emotion_latents": latents}))
    assert not torch.allclose(happy, base, atol=1e-4)
    assert not torch.allclose(emo(**(inp | {"emotion_latents": -latents})), happy, atol=1e-4)
    with pytest.raises(ValueError, match="no emotion module"):
        plain(**(inp | {"emotion_latents": latents}))


def test_emotion_keys_load_strictly_through_the_variant_registry():
    from vitascope.models.dit.variants import build_dit, detect_variant

    for emotion in (False, True):
        model = _tiny(emotion=emotion)
        sd = model.state_dict()
        assert any(k.startswith("emotion_blocks.1.to_out.") for k in sd) == emotion
        shapes = {k: tuple(v.shape) for k, v in sd.items()}
        variant = detect_variant(shapes, model.config)
        assert variant.name == "avatar"
        with torch.device("meta"):
            built = build_dit(variant, model.config, shapes)
        assert built.has_emotion == emotion
        built.load_state_dict(sd, strict=True, assign=True)
    plain = _tiny()
    with pytest.raises(RuntimeError, match="emotion_in.proj.weight"):
        plain.load_state_dict(_tiny(emotion=True).state_dict(), strict=True)


def test_tiny_avatar_folder_with_emotion_loads(tmp_path):
    from transformers import WhisperConfig

    from vitascope.convert.folder import detect_folder
    from vitascope.pipelines.avatar_loader import avatar_folder, load_avatar_dit
    from vitascope.pipelines.tiny_avatar import write_tiny_avatar

    write_tiny_avatar(tmp_path / "m", emotion=True)
    folder = avatar_folder(detect_folder(tmp_path / "m"))
    whisper = WhisperConfig.from_pretrained(folder.audio_encoder)
    dit = load_avatar_dit(folder, whisper, torch.device("cpu"), torch.float32)
    assert dit.has_emotion and len(dit.emotion_blocks) == dit.config.mm_double_blocks_depth
