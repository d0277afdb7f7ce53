"""Stages 7-10 on real clips: people logic, embeddings + dedup + balance, structured captions, datasets."""

from __future__ import annotations

import curate_synth as cs
import numpy as np
import pytest

from vitascope.curate.caption import (
    FIELDS,
    TransformersVLMCaptioner,
    builtin_caption,
    caption_variants,
    merge_caption,
    palette,
    parse_json_caption,
)
from vitascope.curate.config import DatasetConfig, EmbedConfig, PeopleConfig, TrainingStage
from vitascope.curate.datasets import aspect_bucket, assign_stages, duration_bucket
from vitascope.curate.embed import TransformersImageEmbedder, balance_clusters, builtin_embed, deduplicate
from vitascope.curate.people import analyse_people, opencv_detectors_available, people_rejects
from vitascope.errors import InvalidOptionError, ModelFolderError
from vitascope.media import read_video


def _decoded(frames, path, crf=18):
    from vitascope.media import write_video

    write_video(frames, path, fps=24, crf=crf)
    return read_video(path)[0]


def test_builtin_embedding_finds_reencoded_duplicates_only(tmp_path):
    a = _decoded(cs.pan_shot(1, 12), tmp_path / "a.mp4")
    a_again = _decoded(cs.pan_shot(1, 12), tmp_path / "a2.mp4", crf=30)  # same shot, stronger compression
    b = _decoded(cs.pan_shot(2, 12), tmp_path / "b.mp4")
    ea, ea2, eb = (builtin_embed(x[::4]) for x in (a, a_again, b))
    assert np.linalg.norm(ea) == pytest.approx(1.0, abs=1e-5)
    assert float(ea @ ea2) > 0.97 > 0.6 > float(ea @ eb)
    assert np.array_equal(builtin_embed(a[::4]), ea)  # deterministic
    recs = [
        {
            "clip_id": "x",
            "kept": True,
            "reasons": [],
            "embedding": ea2,
            "sharpness": 10.0,
            "start": 0,
            "end": 1,
        },
        {
            "clip_id": "y",
            "kept": True,
            "reasons": [],
            "embedding": ea,
            "sharpness": 90.0,
            "start": 0,
            "end": 1,
        },
        {
            "clip_id": "z",
            "kept": True,
            "reasons": [],
            "embedding": eb,
            "sharpness": 50.0,
            "start": 0,
            "end": 1,
        },
    ]
    deduplicate(recs, EmbedConfig().dedup_threshold)
    assert [r["kept"] for r in recs] == [False, True, True]  # the blurrier copy goes
    assert recs[0]["duplicate_of"] == "y" and recs[0]["reasons"] == ["duplicate"]


def test_concept_balance_downweights_crowded_clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 16))
    recs = []
    for i, c in enumerate([0] * 6 + [1] * 2):
        v = centres[c] + 0.01 * rng.normal(size=16)
        recs.append({"clip_id": f"c{i}", "kept": True, "embedding": v / np.linalg.norm(v)})
    balance_clusters(recs, k=2, power=1.0)
    w = np.array([r["sample_weight"] for r in recs])
    assert w.mean() == pytest.approx(1.0)
    assert len({r["cluster"] for r in recs[:6]}) == 1 and recs[0]["cluster"] != recs[7]["cluster"]
    assert w[:6].sum() == pytest.approx(w[6:].sum())  # each concept gets the same total weight


def test_clip_embedder_from_a_local_folder(tmp_path):
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    cfg = CLIPConfig(
        text_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        projection_dim=8,
    )  # fmt: skip
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(tmp_path / "clip")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        tmp_path / "clip"
    )
    embed = TransformersImageEmbedder(tmp_path / "clip")
    a, b = cs.pan_shot(1, 3), cs.pan_shot(2, 3)
    va, vb = embed(a), embed(b)
    assert va.shape == (8,) and np.linalg.norm(va) == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(embed(a), va) and not np.allclose(va, vb)
    with pytest.raises(ModelFolderError, match="config.json"):
        TransformersImageEmbedder(tmp_path / "nothing")
    with pytest.raises(InvalidOptionError, match="model_folder"):
        EmbedConfig(embedder="clip")


def _record(**kw):
    rec = {
        "clip_id": "c", "source": "dir/a.mp4", "start": 0.0, "end": 2.0, "fps": 24.0, "width": 640,
        "height": 360, "camera_motion": "pan left", "brightness": 120.0, "sharpness": 500.0, "contrast": 40.0,
        "colourfulness": 50.0, "speed": 0.3, "people_count": 0, "palette": ["green", "blue"], "kept": True,
        "crop": [0, 0, 640, 360],
    }  # fmt: skip
    rec.update(kw)
    return rec


def test_structured_caption_schema_and_variants(tmp_path):
    frames = _decoded(cs.pan_shot(3, 6), tmp_path / "p.mp4")
    names = palette(frames)
    assert 1 <= len(names) <= 2
    grey = np.full((2, 16, 16, 3), 128, np.uint8)
    assert palette(grey) == ["grey"]
    cap = builtin_caption(
        _record(camera_motion="zoom out", brightness=40.0, people_count=2, subject_fraction=0.3)
    )
    assert list(cap) == list(FIELDS)
    assert cap["Camera Movement"] == "Zoom out" and "zooms out" in cap["Dense Description"]
    assert cap["Lighting"].startswith("Low-key") and cap["Shot Type"] == "Medium shot"
    assert "2 people" in cap["Short Description"] and "a.mp4" in cap["Metadata Tags"]
    variants = caption_variants(cap, 6, 0.4, seed=0, key="clip-1")
    assert all(cap[f].rstrip(".") in variants[0] for f in FIELDS)  # the first: every field, schema order
    positions = [variants[0].index(cap[f].rstrip(".")) for f in FIELDS]
    assert positions == sorted(positions)
    # the others: a description always, some fields dropped, some reordered
    assert all(
        cap["Short Description"].rstrip(".") in v or cap["Dense Description"].rstrip(".") in v
        for v in variants
    )
    assert any(len(v) < len(variants[0]) for v in variants[1:])
    assert caption_variants(cap, 6, 0.4, seed=0, key="clip-1") == variants
    assert caption_variants(cap, 6, 0.4, seed=0, key="clip-2") != variants


def test_vlm_answers_are_parsed_and_merged():
    text = 'Sure: {"Short Description": "A fox.", "Style": "Cinematic", "Camera Movement": "pan up", "x": 1} done'
    parsed = parse_json_caption(text)
    assert parsed == {"Short Description": "A fox.", "Style": "Cinematic", "Camera Movement": "pan up"}
    assert parse_json_caption("no json here") == {} and parse_json_caption("{broken") == {}
    fallback = builtin_caption(_record())
    merged = merge_caption(parsed, fallback, _record())
    assert merged["Short Description"] == "A fox." and merged["Background"] == fallback["Background"]
    assert merged["Camera Movement"] == "Pan left"  # the classifier, not the VLM, names the camera move


def test_vlm_captioner_runs_a_local_model_folder(tmp_path):
    from transformers import LlavaProcessor

    from vitascope.models.text.tiny import tiny_llava

    model, tok, proc = tiny_llava()
    template = (
        "{% for m in messages %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
        "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %} ASSISTANT:"
    )
    processor = LlavaProcessor(
        image_processor=proc, tokenizer=tok, chat_template=template, patch_size=8,
        vision_feature_select_strategy="default", num_additional_image_tokens=1,
    )  # fmt: skip
    model.save_pretrained(tmp_path / "vlm")
    processor.save_pretrained(tmp_path / "vlm")
    captioner = TransformersVLMCaptioner(tmp_path / "vlm", max_new_tokens=6)
    cap = captioner(_record(camera_motion="tilt up"), cs.pan_shot(4, 3))
    assert (
        list(cap) == list(FIELDS) and cap["Camera Movement"] == "Tilt up"
    )  # random weights: fallbacks fill in
    with pytest.raises(ModelFolderError):
        TransformersVLMCaptioner(tmp_path / "missing")


def test_portrait_filter_from_detections():
    def detector(n_people, height):
        boxes = [[0.1 * i, 0.1, 0.1 * i + 0.05, 0.1 + height] for i in range(n_people)]
        return lambda frame: (boxes, [])

    frames = np.zeros((2, 64, 64, 3), np.uint8)
    cfg = PeopleConfig()
    crowd = analyse_people(frames, detector(7, 0.3))
    assert crowd["people_count"] == 7 and people_rejects(crowd, cfg) == ["too_many_people"]
    tiny = analyse_people(frames, detector(2, 0.04))
    assert people_rejects(tiny, cfg) == ["subject_too_small"]
    ok = analyse_people(frames, detector(2, 0.4))
    assert people_rejects(ok, cfg) == [] and ok["subject_fraction"] == pytest.approx(0.4)
    assert people_rejects(analyse_people(frames, detector(0, 0)), cfg) == []


def test_opencv_people_detectors_see_no_one_in_a_landscape(tmp_path):
    frames = _decoded(cs.pan_shot(5, 4), tmp_path / "l.mp4")
    p = analyse_people(frames[:2])
    if opencv_detectors_available():
        assert p["people_check"] == "ok" and p["people_count"] == 0
    else:  # OpenCV 5 ships no Haar/HOG detectors: the stage says so and filters nothing
        assert p["people_check"] == "unavailable" and people_rejects(p, PeopleConfig()) == []


@pytest.mark.skipif(not opencv_detectors_available(), reason="OpenCV 5 ships no Haar/HOG detectors")
def test_opencv_detectors_count_drawn_faces_and_the_portrait_filter_judges_them(tmp_path):
    # Real detections (no stand-in detector) on H.264-decoded frames of drawn faces.
    one = analyse_people(_decoded(cs.cartoon_faces([(120, 80)], 1.0), tmp_path / "one.mp4"))
    assert one["people_count"] == 1 and one["subject_fraction"] > 0.5
    assert people_rejects(one, PeopleConfig()) == []
    pair = analyse_people(_decoded(cs.cartoon_faces([(60, 80), (180, 80)], 0.9), tmp_path / "two.mp4"))
    assert pair["people_count"] == 2
    centres = [(40 + 80 * i, 50 + 100 * j) for j in range(2) for i in range(4)]
    crowd = analyse_people(_decoded(cs.cartoon_faces(centres, 0.7, frame=(320, 200)), tmp_path / "c.mp4"))
    assert crowd["people_count"] > PeopleConfig().max_people
    assert people_rejects(crowd, PeopleConfig()) == ["too_many_people"]
    # one small face in a wide frame: a person is there, but too small to be the subject of a portrait
    far = analyse_people(_decoded(cs.cartoon_faces([(300, 200)], 0.45, frame=(640, 400)), tmp_path / "f.mp4"))
    assert far["people_count"] == 1
    assert people_rejects(far, PeopleConfig(min_subject_fraction=0.2)) == ["subject_too_small"]


def test_stage_datasets_and_buckets():
    assert aspect_bucket(1920, 1080, DatasetConfig().aspect_buckets) == "16:9"
    assert aspect_bucket(1080, 1920, DatasetConfig().aspect_buckets) == "9:16"
    assert aspect_bucket(500, 480, DatasetConfig().aspect_buckets) == "1:1"
    assert duration_bucket(4.5, (1.0, 2.0, 4.0)) == 4.0 and duration_bucket(0.5, (1.0, 2.0)) is None
    cfg = DatasetConfig()
    big = _record(width=1280, height=720, crop=[0, 0, 1280, 720], end=6.0, sharpness=200.0, speed=0.2)
    assign_stages(big, cfg)
    assert big["stages"] == ["256p", "360p", "540p", "720p", "720p-hq"] and big["bucket"] == "5.4s@16:9"
    small = _record(sharpness=90.0)  # 640x360, 2 s, a bit soft: only the lenient stages
    assign_stages(small, cfg)
    assert small["stages"] == ["256p", "360p"] and small["bucket"] == "2s@16:9"
    rejected = _record(kept=False)
    assign_stages(rejected, cfg)
    assert rejected["stages"] == []
    with pytest.raises(InvalidOptionError, match="unique"):
        DatasetConfig(stages=(TrainingStage("a", 1, 1.0), TrainingStage("a", 2, 1.0)))
