"""`vitascope eval`: the scoring is right on ground truth, and the command runs end to end on a tiny model."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from vitascope.synthetic.render import render
from vitascope.synthetic.world import sample_scene
from vitascope.train.evaluate import (
    CaseResult,
    eval_cases,
    input_image,
    psnr,
    score_video,
    summarize,
    temporal_stability,
)


def test_scoring_ground_truth_clips_is_all_correct():
    cases = eval_cases(6, seed=3)
    assert len({c["prompt"] for c in cases}) == 6
    results = []
    for c in cases:
        spec = sample_scene(
            c["seed"],
            17,
            64,
            64,
            n_objects=1,
            background="black",
            camera="static",
            shape=c["shape"],
            colour=c["colour"],
            motion=c["motion"],
        )
        frames = render(spec)
        want = {k: c[k] for k in ("colour", "shape", "motion", "background")}
        results.append(
            CaseResult(
                "t2v",
                c["prompt"],
                c["seed"],
                want,
                score_video(frames, want),
                None,
                temporal_stability(frames),
            )
        )
    s = summarize(results)["t2v"]
    assert s["colour"] == 1.0 and s["motion"] == 1.0 and s["shape"] >= 5 / 6
    assert s["stability"] < 0.05  # a static black background hardly changes (antialiased edges only)


def test_psnr_and_stability_measure_what_they_claim():
    img = input_image({"seed": 1, "shape": "circle", "colour": "red"}, 64, 64)
    assert psnr(img, img) == float("inf")
    noisy = np.clip(img.astype(int) + np.random.default_rng(0).integers(-3, 4, img.shape), 0, 255).astype(
        np.uint8
    )
    assert 35 < psnr(noisy, img) < 50
    flicker = np.zeros((5, 16, 16, 3), np.uint8)
    flicker[1::2] = 10
    assert abs(temporal_stability(flicker) - 10.0) < 1e-6


def test_stability_says_not_measured_when_it_cannot_see():
    # A bright background, or flicker strong enough to light every pixel once: no dark pixels are left to
    # measure on, which must read as "not measured", never as "perfectly stable".
    grey = np.full((5, 16, 16, 3), 128, np.uint8)
    strong = np.zeros((5, 16, 16, 3), np.uint8)
    strong[1::2] = 200
    assert np.isnan(temporal_stability(grey)) and np.isnan(temporal_stability(strong))
    assert np.isnan(temporal_stability(grey[:1]))
    case = CaseResult(
        "t2v", "p", 0, {"colour": "red", "shape": "circle", "motion": "m"}, {}, None, float("nan")
    )
    s = summarize([case])
    assert s["t2v"]["stability_n"] == 0 and np.isnan(s["t2v"]["stability"])
    from vitascope.train.evaluate import markdown_table

    table = markdown_table(s)
    assert "not measured" in table and "not held out" in table


def test_eval_command_writes_results_and_table(tmp_path):
    from vitascope.cli import _register, app
    from vitascope.pipelines.tiny import write_tiny_model

    model = write_tiny_model(tmp_path / "model")
    meta = json.loads((model / "vitascope.json").read_text())
    meta["defaults"].update(height=32, width=32, frames=9, steps=2)
    (model / "vitascope.json").write_text(json.dumps(meta))
    _register()
    res = CliRunner().invoke(app, ["eval", "--model", str(model), "--n", "2", "--out", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert {r["mode"] for r in data["cases"]} == {"t2v", "i2v"} and len(data["cases"]) == 4
    assert all(r["psnr"] is not None for r in data["cases"] if r["mode"] == "i2v")
    assert "| i2v | 2 |" in (tmp_path / "ev" / "table.md").read_text()


def test_centred_i2v_inputs_put_the_object_in_the_middle(tmp_path):
    from vitascope.synthetic.analyze import analyze

    case = {"seed": 4, "shape": "triangle", "colour": "yellow"}
    img = input_image(case, 64, 64, centred=True)
    obj = analyze(img, background="black").objects[0]
    assert obj["colour"] == "yellow" and obj["shape"] == "triangle"
    x, y = obj["trajectory"][0]
    assert abs(x - 32) < 2.5 and abs(y - 32) < 2.5
    from vitascope.cli import _register, app
    from vitascope.pipelines.tiny import write_tiny_model

    model = write_tiny_model(tmp_path / "model")
    meta = json.loads((model / "vitascope.json").read_text())
    meta["defaults"].update(height=32, width=32, frames=5, steps=1)
    (model / "vitascope.json").write_text(json.dumps(meta))
    _register()
    args = ["eval", "--model", str(model), "--n", "1", "--mode", "i2v", "--out", str(tmp_path / "ev")]
    res = CliRunner().invoke(app, [*args, "--i2v-input", "centred"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "ev" / "results.json").read_text())["i2v_input"] == "centred"
    bad = CliRunner().invoke(app, [*args, "--i2v-input", "corner"])
    assert bad.exit_code != 0 and "world or centred" in str(bad.output) + str(bad.exception)


def test_eval_with_a_cache_counts_the_dit_calls(tmp_path):
    """`vitascope eval --cache`: every clip goes through the step cache and results.json says what it cost."""
    from vitascope.cli import _register, app
    from vitascope.pipelines.tiny import write_tiny_model

    model = write_tiny_model(tmp_path / "model")
    meta = json.loads((model / "vitascope.json").read_text())
    meta["defaults"].update(height=32, width=32, frames=5, steps=3)
    (model / "vitascope.json").write_text(json.dumps(meta))
    _register()
    args = ["eval", "--model", str(model), "--n", "1", "--mode", "t2v", "--out", str(tmp_path / "ev")]
    res = CliRunner().invoke(app, [*args, "--cache", "fbcache:1e9"])  # skip every step it may
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert data["cache"] == "fbcache:1e9" and data["dit_calls"] == {"full": 1, "cached": 2}
    assert "DiT calls: 1 full, 2 cached" in res.output
    bad = CliRunner().invoke(app, [*args, "--cache", "warp"])
    assert bad.exit_code != 0 and "--cache must be" in str(bad.output) + str(bad.exception)
