"""The analyzer on faces the world never drew: evaluator-style cartoons (oval head, dark eyes, dark mouth) with a
known mouth opening per frame, read back within a pixel in at least 98% of frames."""

import numpy as np

from vitascope.synthetic.faces import analyze_talk
from vitascope.synthetic.faces.cartoon import draw_cartoon_video, mouth_height, sample_cartoon


def test_mouth_opening_is_read_on_independent_drawings():
    right = total = 0
    for seed in range(8):
        n = 1 + seed % 2
        size = (64, 96, 128)[seed % 3]
        faces, bg = sample_cartoon(seed, n, size, size * n)
        openings = np.random.default_rng(seed).random((n, 24)) ** 1.5
        video = draw_cartoon_video(faces, bg, size, size * n, openings)
        result = analyze_talk(video)
        assert len(result.faces) == n, seed
        for face, drawn, opening in zip(result.faces, faces, openings, strict=True):
            truth = np.array([mouth_height(drawn, o) for o in opening])  # over the head height
            err_px = np.abs(face["mouth_height"] - truth) * 2 * drawn.ry
            right += int((err_px <= 1.0).sum())
            total += len(err_px)
            assert np.corrcoef(truth, face["mouth_height"])[0, 1] > 0.99
            x0, _, x1, _ = np.nanmedian(face["box"], axis=0)
            assert abs((x0 + x1) / 2 - drawn.cx) < 2.0  # left to right, where it was drawn
    assert right / total >= 0.98, f"{right}/{total} frames within 1 px"


def test_a_still_mouth_reads_still():
    faces, bg = sample_cartoon(3, 2, 96, 192)
    openings = np.zeros((2, 20))
    openings[0] = np.random.default_rng(0).random(20)
    result = analyze_talk(draw_cartoon_video(faces, bg, 96, 192, openings))
    assert np.ptp(result.faces[1]["mouth_height"]) * 2 * faces[1].ry < 0.5
    assert np.ptp(result.faces[0]["mouth_height"]) * 2 * faces[0].ry > 5
