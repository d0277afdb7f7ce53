"""The web UI's one guidance box drives the guidance the served model reads: embedded guidance for DiTs that
embed it, true CFG for the others (the demo model). Real pipelines, no server."""

import pytest

from vitascope.pipelines.loader import load_pipeline
from vitascope.serve.webui import guidance_field


class _Service:  # the UI reads only service.worker.pipe
    def __init__(self, pipe):
        self.worker = type("W", (), {"pipe": pipe})()


@pytest.mark.parametrize("model,want", [("tiny", "guidance"), ("demo", "cfg_scale")])
def test_guidance_box_targets_what_the_model_uses(model, want, tmp_path):
    from vitascope.pipelines.tiny import write_tiny_model

    path = write_tiny_model(tmp_path / "tiny", seed=0) if model == "tiny" else None
    pipe = load_pipeline(path)
    assert guidance_field(_Service(pipe)) == want
    # and the model really reads that one: the demo's defaults use true CFG > 1
    if want == "cfg_scale":
        assert pipe.defaults.cfg_scale > 1 and not pipe.dit.config.guidance_embed
