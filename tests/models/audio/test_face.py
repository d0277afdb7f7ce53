"""Face mask: the release's box -> mask -> latent resize, the default detector, the largest face, errors."""

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vitascope.errors import InputFileError, InvalidOptionError
from vitascope.models.audio.face import (
    face_mask,
    find_face,
    haar_faces,
    largest_face,
    latent_face_mask,
    parse_face_box,
)
from vitascope.models.audio.release_face import ReleaseFaceDetector, decode

GOLDEN = Path(__file__).parents[2] / "golden" / "avatar" / "face_mask.safetensors"
CASES = [(96, 128), (96, 128), (128, 64), (64, 64)]  # image sizes of the golden cases, in order


def _blob(img, cx, cy, sx, sy, amp):
    y, x = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    img += amp * np.exp(-(((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2) / 2)


def drawn_face(img, cx, cy, s=1.0):
    """A blurred grey face (oval, hair, eyes, brows, nose, mouth) that OpenCV's cascade finds."""
    _blob(img, cx, cy, 48 * s, 64 * s, 130)
    _blob(img, cx, cy - 80 * s, 60 * s, 25 * s, -80)
    for d in (-1, 1):
        _blob(img, cx + d * 24 * s, cy - 14 * s, 10 * s, 6 * s, -100)
        _blob(img, cx + d * 24 * s, cy - 28 * s, 13 * s, 3 * s, -70)
    _blob(img, cx, cy + 10 * s, 5 * s, 12 * s, 15)
    _blob(img, cx, cy + 8 * s, 9 * s, 4 * s, -20)
    _blob(img, cx, cy + 36 * s, 16 * s, 5 * s, -80)


def _rgb(gray):
    return np.repeat(np.clip(gray, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def test_masks_match_official():
    g = load_file(str(GOLDEN))
    for n, (h, w) in enumerate(CASES):
        box = g[f"box_{n}"].tolist()
        if box[0] < 0:  # the release's "no face": the whole image
            box = [0, 0, w, h]
        mask = face_mask(h, w, tuple(box))
        assert torch.equal(mask, g[f"mask_{n}"].float()), f"case {n}"
        lat = latent_face_mask(mask, (h // 8, w // 8))
        torch.testing.assert_close(lat, g[f"latent_{n}"], atol=1e-6, rtol=0)
    assert ((g["latent_0"] > 0) & (g["latent_0"] < 1)).any()  # fractional edges after the bilinear step


def test_haar_finds_the_largest_face():
    img = np.full((240, 480), 40.0)
    drawn_face(img, 120, 125, s=0.6)
    drawn_face(img, 330, 125, s=1.0)
    boxes = haar_faces(_rgb(img))
    assert len(boxes) == 2
    x, y, w, h = find_face(_rgb(img))
    assert 230 < x + w / 2 < 430 and w == max(b[2] for b in boxes)


def test_largest_face_fixes_the_release_bug():
    # The release keeps the *last* box larger than the first: (0,0,5,5) here. We keep the largest.
    boxes = [(0, 0, 2, 2), (10, 10, 9, 9), (0, 0, 5, 5)]
    assert largest_face(boxes) == (10.0, 10.0, 9.0, 9.0)
    assert largest_face([]) is None


def test_face_box_override_and_errors():
    blank = _rgb(np.full((64, 96), 90.0))
    with pytest.raises(InputFileError, match="no face found.*--face-box"):
        find_face(blank)
    assert find_face(blank, face_box=(10, 5, 20, 30)) == (10.0, 5.0, 20.0, 30.0)
    with pytest.raises(InvalidOptionError, match="inside"):
        find_face(blank, face_box=(80, 5, 20, 30))
    assert parse_face_box("1,2,30,40.5") == (1.0, 2.0, 30.0, 40.5)
    for bad in ("1,2,3", "a,b,c,d", "1,2,0,4"):
        with pytest.raises(InvalidOptionError, match="face-box"):
            parse_face_box(bad)


class _FixedDetector(torch.nn.Module):
    """A TorchScript stand-in for detface.pt: returns fixed rows at network size, whatever the input."""

    def forward(self, x: torch.Tensor, grids: list[torch.Tensor]) -> torch.Tensor:
        rows = torch.zeros(1, 3, 16)
        rows[0, 0, :6] = torch.tensor([100.0, 120.0, 40.0, 60.0, 0.9, 0.0])  # box at (80, 90, 40, 60)
        rows[0, 1, :6] = torch.tensor([102.0, 121.0, 40.0, 60.0, 0.8, 0.0])  # overlaps: suppressed
        rows[0, 2, :6] = torch.tensor([300.0, 200.0, 20.0, 20.0, 0.4, 0.0])  # below the threshold
        rows[0, :, 15] = 1.0
        return rows + 0 * x.sum() + 0 * grids[0].sum()


def test_release_detector_is_opt_in(tmp_path):
    path = tmp_path / "detface.pt"
    torch.jit.script(_FixedDetector()).save(str(path))
    with pytest.raises(InvalidOptionError, match="runs code"):
        ReleaseFaceDetector(path)
    det = ReleaseFaceDetector(path, trust_torchscript=True)
    boxes = det(np.zeros((208, 416, 3), np.uint8))  # network size 416 x 832: scale 0.5
    assert len(boxes) == 1 and boxes[0] == pytest.approx((40.0, 45.0, 20.0, 30.0))
    assert decode(torch.zeros(1, 0, 16), (1.0, 1.0)) == []


def test_reference_sizes_match_official():
    from vitascope.models.audio.reference import avatar_reference_size, resize_reference

    rows = load_file(str(GOLDEN.parent / "reference_size.safetensors"))["sizes"].tolist()
    assert len(rows) == 10
    for w, h, size, new_w, new_h in rows:
        assert avatar_reference_size(w, h, size) == (new_w, new_h), (w, h, size)
    out = resize_reference(np.zeros((131, 97, 3), np.uint8))
    assert out.shape == (960, 704, 3)
    with pytest.raises(InvalidOptionError, match="elongated"):
        avatar_reference_size(100000, 10, 704)
