"""`vitascope eval --task pose`: the scorer on frames with known answers, and the command end to end on a tiny
pose model (results, a table with the targets beside the figures, frames over their skeletons)."""

import json

import numpy as np
import pytest
from PIL import Image

from vitascope.synthetic.figures.clips import EVAL, figure_clip, split_seed
from vitascope.train.eval_pose import TARGETS, score_frames


def test_scorer_on_known_frames():
    c = figure_clip(split_seed(0, EVAL), frames=3, size=(96, 96), motion="dance")
    colours = c.figure.colours()
    truth = score_frames(c.frames, c.keypoints, c.height, colours)
    assert truth["pck"] >= 0.9 and truth["colours"] == 1.0
    black = score_frames(np.zeros_like(c.frames), c.keypoints, c.height, colours)
    assert black["pck"] == 0.0 and black["colours"] == 0.0
    shifted = score_frames(np.roll(c.frames, 30, axis=2), c.keypoints, c.height, colours)
    assert shifted["pck"] < 0.3 and shifted["colours"] == 1.0  # right colours, wrong place
    other = {r: tuple(255 - v for v in rgb) for r, rgb in colours.items()}
    assert score_frames(c.frames, c.keypoints, c.height, other)["colours"] < 0.5


@pytest.mark.slow
def test_eval_pose_command(tmp_path):
    from typer.testing import CliRunner

    from vitascope import cli
    from vitascope.pipelines.tiny import write_tiny_pose_model

    model = write_tiny_pose_model(tmp_path / "model")
    out = tmp_path / "eval"
    cli._register()
    args = ["eval", "--task", "pose", "--model", str(model), "--n", "2", "--steps", "1", "--out", str(out)]
    r = CliRunner().invoke(cli.app, args)
    assert r.exit_code == 0, (r.output, r.exception)
    report = json.loads((out / "pose_results.json").read_text())
    assert [c["kind"] for c in report["cases"]] == ["template", "pose video"]
    assert report["targets"] == TARGETS
    for c in report["cases"]:
        assert 0.0 <= c["pck"] <= 1.0 and len(c["pck_frames"]) == 4  # frames 1..4 of 5
        assert c["ceiling_pck"] >= 0.8  # the analyzer reads the true render of the drive
    table = (out / "pose_table.md").read_text()
    assert ">= 80%" in table and "template" in table and "pose video" in table
    strip = np.asarray(Image.open(out / "pose_frames.png"))
    assert strip.shape[0] == 2 * 64 * 3  # generated frames above their skeletons
