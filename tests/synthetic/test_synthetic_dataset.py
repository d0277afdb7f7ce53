"""The dataset: deterministic per (seed, index), images mixed in, samples consistent with their truth."""

from __future__ import annotations

import numpy as np
import pytest

from vitascope.errors import InvalidOptionError
from vitascope.synthetic import SyntheticVideoDataset, canonical_caption, parse_canonical, render


def test_samples_are_deterministic_and_consistent():
    ds = SyntheticVideoDataset(n=12, seed=3, frames=9, height=32, width=48)
    again = SyntheticVideoDataset(n=12, seed=3, frames=9, height=32, width=48)
    assert len(ds) == 12
    for i in range(len(ds)):
        a, b = ds[i], again[i]
        assert np.array_equal(a["video"], b["video"]) and a["caption"] == b["caption"]
        assert a["caption_variant"] == b["caption_variant"]
        assert a["video"].shape == (9, 32, 48, 3) and a["video"].dtype == np.uint8
        assert a["caption"] == canonical_caption(a["spec"])
        assert np.array_equal(a["video"], render(a["spec"]))
        parsed = parse_canonical(a["caption"])
        assert [o["colour"] for o in a["truth"]["objects"]] == [o["colour"] for o in parsed["objects"]]
        assert a["truth"]["objects"][0]["trajectory"].shape == (9, 2)
    other = SyntheticVideoDataset(n=12, seed=4, frames=9, height=32, width=48)
    assert [s["caption"] for s in other] != [s["caption"] for s in ds]
    assert ds[-1]["caption"] == ds[11]["caption"]
    with pytest.raises(IndexError):
        ds[12]


def test_image_ratio_mixes_single_images_in():
    ds = SyntheticVideoDataset(n=200, seed=0, frames=5, height=16, width=16, image_ratio=0.3)
    frames = [ds.spec(i).frames for i in range(len(ds))]
    share = frames.count(1) / len(frames)
    assert 0.2 < share < 0.4 and set(frames) == {1, 5}
    assert all(SyntheticVideoDataset(n=5, seed=0, image_ratio=1.0).spec(i).frames == 1 for i in range(5))


def test_constraints_and_validation():
    ds = SyntheticVideoDataset(
        n=10, seed=1, n_objects=1, constraints={"background": "black", "motion": "moving right"}
    )
    for sample in ds:
        assert sample["caption"].endswith("moving right on a black background")
    with pytest.raises(InvalidOptionError, match="image_ratio"):
        SyntheticVideoDataset(n=1, image_ratio=2.0)
    with pytest.raises(InvalidOptionError, match="4k\\+1"):
        SyntheticVideoDataset(n=1, frames=8)


def test_torch_dataloader_accepts_it():
    torch = pytest.importorskip("torch")
    ds = SyntheticVideoDataset(n=4, seed=0, frames=5, height=16, width=16, n_objects=1)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=2, collate_fn=lambda b: torch.stack([torch.from_numpy(s["video"]) for s in b])
    )
    batches = list(loader)
    assert [tuple(b.shape) for b in batches] == [(2, 5, 16, 16, 3)] * 2
