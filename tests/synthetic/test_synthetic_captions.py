"""Captions: the canonical sentence, the structured JSON schema, training variants and parsing back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vitascope.synthetic import (
    BACKGROUNDS,
    COLOURS,
    MOTIONS,
    SHAPES,
    STRUCTURED_KEYS,
    canonical_caption,
    caption_variants,
    parse_canonical,
    sample_scene,
    structured_caption,
)


def test_canonical_form_of_a_static_single_object_scene():
    spec = sample_scene(
        0, colour="red", shape="circle", motion="moving right", background="black", n_objects=1
    )
    assert canonical_caption(spec) == "a red circle moving right on a black background"


def test_camera_clause_only_when_the_camera_moves():
    spec = sample_scene(1, camera="panning left", n_objects=1)
    assert canonical_caption(spec).endswith(f"on a {spec.background} background, camera panning left")


@pytest.mark.parametrize("seed", range(60))
def test_captions_parse_back_to_the_scene(seed):
    spec = sample_scene(seed)
    parsed = parse_canonical(canonical_caption(spec))
    assert parsed["background"] == spec.background and parsed["camera"] == spec.camera
    assert parsed["objects"] == [
        {"colour": o.colour, "shape": o.shape, "motion": o.motion} for o in spec.objects
    ]
    first = spec.objects[0]
    assert (parsed["colour"], parsed["shape"], parsed["motion"]) == (first.colour, first.shape, first.motion)


def test_every_vocabulary_word_parses():
    for colour in COLOURS:
        for shape in SHAPES:
            for motion in MOTIONS:
                for background in BACKGROUNDS:
                    prompt = f"A {colour} {shape} {motion} on a {background} background."
                    got = parse_canonical(prompt)
                    assert (got["colour"], got["shape"], got["motion"], got["background"]) == (
                        colour,
                        shape,
                        motion,
                        background,
                    )


@pytest.mark.parametrize(
    "prompt,needle",
    [
        ("a purple circle moving right on a black background", "colour 'purple'"),
        ("a red hexagon moving right on a black background", "shape 'hexagon'"),
        ("a red circle moving sideways on a black background", "motion 'moving sideways'"),
        ("a red circle moving right on a plaid background", "background 'plaid'"),
        ("a red circle moving right on a black background, camera spinning around", "camera move"),
        ("a cat playing the piano", "expected 'a {colour} {shape} {motion}"),
    ],
)
def test_other_text_raises_a_helpful_error(prompt, needle):
    with pytest.raises(ValueError) as err:
        parse_canonical(prompt)
    assert needle in str(err.value)
    assert "choose one of" in str(err.value) or "colour in {" in str(err.value)


def test_structured_caption_has_the_paper_schema_and_tells_the_truth():
    spec = sample_scene(5, n_objects=2, camera="zooming in")
    cap = structured_caption(spec)
    assert tuple(cap) == STRUCTURED_KEYS
    json.dumps(cap)  # JSON-ready
    assert all(isinstance(cap[k], str) and cap[k] for k in STRUCTURED_KEYS if k != "Metadata Tags")
    tags = cap["Metadata Tags"]
    assert isinstance(tags, list) and "synthetic" in tags
    assert cap["Camera Movement"] == "Zoom in"
    for obj in spec.objects:
        assert f"{obj.colour} {obj.shape}" in cap["Dense Description"]
        assert obj.colour in tags and obj.shape in tags and obj.motion in tags
    assert cap["Short Description"].lower().rstrip(".") == canonical_caption(spec)


def test_caption_variants_drop_and_permute_fields_deterministically():
    cap = structured_caption(sample_scene(9))
    rng = np.random.default_rng(0)
    variants = [caption_variants(cap, rng) for _ in range(200)]
    assert len(set(variants)) > 50
    lengths = [len(v) for v in variants]
    assert min(lengths) < 0.5 * max(lengths)  # fields really are dropped
    for v in variants:  # every variant still says what is in the clip
        assert cap["Short Description"].rstrip(".") in v or cap["Dense Description"].rstrip(".") in v
    # permutation: the camera field is sometimes before, sometimes after the description
    short = cap["Short Description"].rstrip(".")
    both = [v for v in variants if "Camera movement:" in v and short in v]
    orders = {v.index("Camera movement:") < v.index(short) for v in both}
    assert orders == {True, False}
    assert caption_variants(cap, 123) == caption_variants(cap, 123)


def test_one_schema_for_curation_and_the_world():
    """A curation caption and a world caption give non-empty training variants through the same function."""
    from vitascope.captions import FIELDS, caption_prompt, caption_variant, check_caption
    from vitascope.curate.caption import builtin_caption

    world = check_caption(structured_caption(sample_scene(3)))
    curated = check_caption(
        builtin_caption({"source": "a.mp4", "start": 0.0, "end": 2.0, "width": 64, "height": 48, "fps": 24})
    )
    assert set(world) == set(curated) == set(FIELDS)
    for cap in (world, curated):
        variants = [caption_variant(cap, np.random.default_rng(i)) for i in range(20)]
        assert all(v.strip() for v in variants) and len(set(variants)) > 5
        assert caption_prompt(cap) == cap["Dense Description"]
    with pytest.raises(ValueError, match="short_description"):
        check_caption({"short_description": "x"})
