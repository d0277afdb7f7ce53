"""The avatar task in the one training loop: a few steps of a tiny Avatar DiT on the talking-head world,
exact resume, and an export in the release's layout that `load_avatar_pipeline` loads and runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vitascope.train.avatar_recipes import tiny_avatar
from vitascope.train.loop import train


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    from vitascope.models.vae import CausalVAE3D, VAEConfig, save_vae

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("vae")
    save_vae(CausalVAE3D(VAEConfig.tiny()), root / "vae")
    return root / "vae"


@pytest.fixture(scope="module")
def runs(tmp_path_factory, vae_dir):
    """Four steps straight, and two + two resumed (the second call also exports)."""
    root = tmp_path_factory.mktemp("avatar")
    r = tiny_avatar(str(vae_dir))
    straight = train(r, root / "a", resume=False, export=False)
    first = train(r, root / "b", max_steps=2, resume=False, export=False)
    second = train(r, root / "b", resume=True)
    return root, straight, first, second


def test_avatar_training_resumes_exactly(runs):
    root, straight, first, second = runs
    assert len(straight.losses) == 4 and all(np.isfinite(straight.losses))
    assert first.losses + second.losses == straight.losses  # data, noise, t and drops are step functions
    # the pool is built once per run folder and reused on resume
    assert len(list((root / "b" / "latents").glob("*.pt"))) == 1


def test_avatar_export_loads_and_generates(runs):
    from vitascope.pipelines.avatar import AvatarOptions
    from vitascope.pipelines.avatar_loader import load_avatar_pipeline
    from vitascope.synthetic.faces import make_clip, sample_talk_scene

    root, *_ = runs
    export = root / "b" / "export"
    assert (
        export / "ckpts" / "hunyuan-video-t2v-720p" / "transformers" / "mp_rank_00_model_states.pt"
    ).is_file()
    pipe = load_avatar_pipeline(export)
    assert pipe.window == 2 and pipe.defaults == {"image_size": 64, "steps": 2}
    clip = make_clip(sample_talk_scene(3, frames=12, height=64, width=64, n_faces=1))
    box = np.clip(clip.truth["faces"][0]["box"][0], 0, 63)
    opts = AvatarOptions(
        image=clip.frames[0], audio=clip.audio, steps=2, image_size=64, cfg_scale=2.0,
        face_box=(float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])),
    )  # fmt: skip
    res = pipe.generate(opts)
    assert res.frames == 12 and res.latents.shape[1] == 16 and torch.isfinite(res.latents).all()
    frames = np.concatenate(list(pipe.decode_chunks(res.latents, res.frames)))
    assert frames.shape == (12, 64, 64, 3)


def test_stage2_emotion_and_two_faces(tmp_path, vae_dir):
    """Stage 2 on a stage-1 export: the emotion module is added (zero-init, loaded non-strictly), two-face
    clips with one silent track come in their own wide bucket, and the export has the emotion weights."""
    import dataclasses

    from vitascope.pipelines.avatar_loader import load_avatar_pipeline
    from vitascope.train.buckets import Bucket
    from vitascope.train.recipes import Stage

    base = tiny_avatar(str(vae_dir))
    train(base.replace(name="s1", stages=(Stage("a", 1, (Bucket(5, 64, 64, 2),)),)), tmp_path / "s1")
    r2 = base.replace(
        name="s2",
        stages=(Stage("b", 2, (Bucket(5, 64, 64, 2), Bucket(5, 64, 128, 2))),),
        avatar_options=dataclasses.replace(
            base.avatar_options, data="mixed", emotion=True, init_from="s1", encoders_from="s1"
        ),
    )
    res = train(r2, tmp_path / "s2", run_root=tmp_path)
    assert all(np.isfinite(res.losses))
    pools = sorted(p.name for p in (tmp_path / "s2" / "latents").glob("*.pt"))
    assert any("64x128_2_duo_emotion" in p for p in pools) and any(
        "64x64_2_single_emotion" in p for p in pools
    )
    pipe = load_avatar_pipeline(res.export_dir)
    assert pipe.dit.has_emotion


def test_emotion_pools_take_some_photos_in_another_expression():
    """With emotion_swap the photo shows the same face (place, identity) in another expression, so the
    clip's expression is only in the emotion reference; without the emotion module photos are the clip's."""
    from vitascope.train.avatar_data import face_clip
    from vitascope.train.avatar_encoders import _photo_frames
    from vitascope.train.options import AvatarTrainOptions

    clip = face_clip(5, 9, 64, 64, n_faces=1, expressions=("happy",), audio=("silent",))
    same = _photo_frames(clip, AvatarTrainOptions(window=2, clip_frames=9), np.random.default_rng(0))
    assert same is clip.frames
    swap = AvatarTrainOptions(window=2, clip_frames=9, emotion=True, emotion_swap=1.0)
    other = _photo_frames(clip, swap, np.random.default_rng(0))
    diff = np.abs(other.astype(int) - clip.frames.astype(int)).max(-1)  # [F, H, W]
    assert diff.mean() > 0  # the expression changed ...
    assert (diff > 0).mean() < 0.1  # ... and nothing but the face's features did


def test_clip_audio_is_heard_at_every_place_of_a_whisper_chunk():
    """Pool clips' audio is cut from a recording at a random offset (Whisper's features depend on the
    position in its 30 s chunk): offsets cover the chunk, and with no context the windows are the clip's own."""
    from types import SimpleNamespace

    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    from vitascope.models.audio.whisper import audio_windows
    from vitascope.train.avatar_data import face_clip
    from vitascope.train.avatar_encoders import audio_offset, clip_audio_windows
    from vitascope.train.options import AvatarTrainOptions

    ks = [audio_offset(np.random.default_rng(i), 33, 30.0) for i in range(400)]
    assert 0.15 < np.mean(np.array(ks) == 0) < 0.35 and max(ks) > 600 and max(ks) <= 750 - 33
    assert audio_offset(np.random.default_rng(0), 33, 0.0) == 0

    torch.manual_seed(0)
    cfg = WhisperConfig(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=80,
                        max_source_positions=1500, max_target_positions=32, vocab_size=64, pad_token_id=0,
                        bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)  # fmt: skip
    enc = SimpleNamespace(whisper=WhisperModel(cfg).eval(), feature_extractor=WhisperFeatureExtractor())
    clip = face_clip(3, 9, 64, 128, n_faces=2)
    plain = torch.cat([audio_windows(t, enc.whisper, enc.feature_extractor) for t in clip.tracks])
    alone = clip_audio_windows(clip.tracks, enc, AvatarTrainOptions(window=2, clip_frames=9, audio_context=0), None)
    assert torch.equal(alone, plain)
    placed = [
        clip_audio_windows(clip.tracks, enc, AvatarTrainOptions(window=2, clip_frames=9), np.random.default_rng(s))
        for s in range(4)
    ]
    assert all(p.shape == plain.shape for p in placed)
    assert sum(not torch.equal(p, plain) for p in placed) >= 2  # most clips sit somewhere else in the chunk


def test_two_face_training_masks_are_the_pipelines_disjoint_ones():
    from vitascope.models.audio.face import latent_face_mask
    from vitascope.models.audio.speakers import speaker_masks
    from vitascope.train.avatar_pool import face_masks

    boxes = np.array([[[20.0, 16.0, 44.0, 48.0]], [[70.0, 14.0, 96.0, 50.0]]])  # [N, F, 4] x0, y0, x1, y1
    m = face_masks(boxes, 0, 64, 128, 16, 32)
    assert m.shape == (2, 1, 16, 32)
    assert float((m[0] * m[1]).max()) < 0.3  # only where the bilinear resize blends the border
    want = latent_face_mask(speaker_masks(64, 128, [(20, 16, 24, 32), (70, 14, 26, 36)]), (16, 32))[0]
    assert torch.allclose(m, want)
    one = face_masks(boxes[:1], 0, 64, 128, 16, 32)
    assert float(one[0].sum()) > float(m[0].sum())  # alone, a face keeps its whole x3 box
