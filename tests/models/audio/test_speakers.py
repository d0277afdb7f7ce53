"""Faces matched to voices left to right, drawn faces found where the photo cascade misses, disjoint masks."""

import numpy as np
import pytest
import torch

from vitascope.errors import InputFileError, InvalidOptionError
from vitascope.models.audio.face import face_mask, find_face, latent_face_mask
from vitascope.models.audio.speakers import find_faces, speaker_masks
from vitascope.synthetic.faces import make_clip, sample_talk_scene


def _scene(seed, n):
    scene = sample_talk_scene(seed, frames=1, height=192, width=256, n_faces=n)
    return scene, make_clip(scene).frames[0]


def test_world_faces_are_found_left_to_right():
    for seed, n in ((0, 2), (1, 2), (4, 3), (2, 1)):
        scene, frame = _scene(seed, n)
        boxes = find_faces(frame, n)
        truth = sorted(f.centre[0] * scene.width for f in scene.faces)
        centres = [x + w / 2 for x, _, w, _ in boxes]
        assert np.allclose(centres, truth, atol=0.1 * scene.width / n), (seed, centres, truth)
    _, frame = _scene(0, 2)
    with pytest.raises(InvalidOptionError, match="3 audio track.*2 face"):
        find_faces(frame, 3)
    with pytest.raises(InvalidOptionError, match="2 audio track.*1 --face-box"):
        find_faces(frame, 2, face_boxes=[(1, 1, 20, 20)])
    assert find_faces(frame, 2, face_boxes=[(100, 1, 20, 20), (1, 1, 20, 20)])[0][0] == 100  # order kept
    with pytest.raises(InputFileError, match="no face found"):
        find_faces(np.full((64, 96, 3), 90, np.uint8), 2)
    x, _, w, _ = find_face(frame)  # one voice: the largest drawn face
    assert max(find_faces(frame, 2), key=lambda b: b[2] * b[3])[0] == x


def test_masks_are_disjoint_and_one_speaker_is_the_release_mask():
    box = (40.0, 30.0, 50.0, 60.0)
    assert torch.equal(speaker_masks(128, 256, [box]), face_mask(128, 256, box))
    boxes = [(30.0, 40.0, 50.0, 60.0), (120.0, 40.0, 60.0, 60.0)]  # enlarged 3x they overlap
    m = speaker_masks(128, 256, boxes)
    assert m.shape == (1, 2, 1, 128, 256)
    assert m.sum(dim=1).max() == 1  # no pixel is driven by two voices
    union = torch.maximum(face_mask(128, 256, boxes[0]), face_mask(128, 256, boxes[1]))
    assert torch.equal(m.sum(dim=1, keepdim=True), union)  # and none is lost
    assert m[0, 0, 0, 70, 55] == 1 and m[0, 1, 0, 70, 150] == 1  # each face's own centre is its own
    lat = latent_face_mask(m, (16, 32))
    assert lat.shape == (1, 2, 1, 16, 32)
