"""Pose-driven jobs over HTTP: a real `vitascope serve` process on a tiny pose model. The motion templates
and their GIF previews; a template job, a keypoint-JSON job and a pose-video job end with an mp4 whose
sidecar holds the retargeted skeleton; bad uploads get a 4xx that says what to fix and leave nothing behind."""

import io
import json
import os
import re

import numpy as np
import pytest
from PIL import Image
from serve_helpers import start, wait_job

from vitascope.pipelines.tiny import write_tiny_pose_model
from vitascope.synthetic.figures import (
    TEMPLATES,
    motion_keypoints,
    render_figure,
    sample_figure,
    template,
    write_pose_json,
)

S = 64


def _png(pixels) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _figure_png() -> bytes:
    fig = sample_figure(3)
    return _png(render_figure(fig, motion_keypoints(template("squat", 1), fig, 48, (S, S))[0], 48, (S, S)))


def _pose_video(tmp_path) -> bytes:
    from vitascope.media import write_video

    fig = sample_figure(9)
    kp = motion_keypoints(template("jump", 5), fig, 90, (128, 128))
    frames = render_figure(fig, kp, 90, (128, 128))
    return write_video(frames, tmp_path / "jump.mp4", fps=8).read_bytes()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = write_tiny_pose_model(tmp_path_factory.mktemp("pose-model"))
    srv = start(tmp_path_factory.mktemp("pose-data"), model=model)
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    with server.client(timeout=120) as c:
        yield c


def test_motion_templates_with_previews(client):
    assert client.get("/v1/health").json()["pose"] is True
    listed = client.get("/v1/motions").raise_for_status().json()
    assert [m["name"] for m in listed] == list(TEMPLATES)
    assert {"wave", "jump", "dance", "squat", "walk", "gymnastics"} <= set(TEMPLATES)
    r = client.get(listed[0]["preview_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    gif = Image.open(io.BytesIO(r.content))
    assert gif.n_frames > 10 and gif.size == (96, 96)
    frames = []
    for i in (0, gif.n_frames // 2):
        gif.seek(i)
        frames.append(np.asarray(gif.convert("RGB")))
    assert frames[0].max() > 200 and np.abs(frames[0].astype(int) - frames[1]).max() > 0  # it moves
    assert client.get("/v1/motions/moonwalk/preview.gif").status_code == 404


def _job(client, data, files):
    r = client.post("/v1/jobs", data=data, files=files)
    assert r.status_code == 201, r.text
    job = wait_job(client, r.json()["id"], timeout=120)
    assert job["state"] == "succeeded", job["error"]
    return job


def test_template_json_and_video_jobs(client, server, tmp_path):
    image = ("figure.png", _figure_png(), "image/png")
    form = {"task": "i2v", "frames": "5", "steps": "1"}
    job = _job(client, form | {"motion": "wave"}, {"image": image})
    sidecar = json.loads((server.data / "outputs" / f"{job['id']}.mp4.json").read_text())
    assert sidecar["pose"]["source"] == "motion:wave" and len(sidecar["pose"]["keypoints"]) == 5
    assert job["prompt"] == ""  # worded by the worker: the sidecar has it
    assert sidecar["options"]["prompt"] == "a figure waving on a black background"

    kp = motion_keypoints(template("dance", 5), sample_figure(8), 90, (128, 128))
    pose_json = json.dumps(write_pose_json(kp, layout=18, size=(128, 128))).encode()
    job = _job(client, form, {"image": image, "pose_json": ("dance.json", pose_json, "application/json")})
    assert job["options"]["pose_json"] == f"uploads/{job['id']}.pose.json"
    job = _job(client, form, {"image": image, "pose_video": ("jump.mp4", _pose_video(tmp_path), "video/mp4")})
    sidecar = json.loads((server.data / "outputs" / f"{job['id']}.mp4.json").read_text())
    assert sidecar["pose"]["source"].startswith("pose_video:")


def test_bad_pose_requests_get_4xx_and_store_nothing(client, server, tmp_path):
    uploads = server.data / "uploads"
    before = sorted(os.listdir(uploads))
    image = ("figure.png", _figure_png(), "image/png")
    black = ("black.png", _png(np.zeros((S, S, 3), np.uint8)), "image/png")
    bad_json = ("p.json", b"{not json", "application/json")
    empty_pose = ("p.json", json.dumps({"people": []}).encode(), "application/json")
    noise = ("v.mp4", os.urandom(3000), "video/mp4")
    form = {"task": "i2v", "frames": "5", "steps": "1"}
    cases = [
        (form | {"motion": "moonwalk"}, {"image": image}, "unknown motion 'moonwalk'"),
        (form | {"motion": "wave"}, {"image": black}, "no figure to animate"),
        (form, {"image": image, "pose_json": bad_json}, "not JSON"),
        (form, {"image": image, "pose_json": empty_pose}, ""),
        (form, {"image": image, "pose_video": noise}, "cannot decode"),
        (form | {"motion": "wave"}, {"image": image, "pose_json": bad_json}, "one motion source"),
    ]
    for data, files, words in cases:
        r = client.post("/v1/jobs", data=data, files=files)
        assert 400 <= r.status_code < 500, (words, r.text)
        assert words in r.json()["detail"], r.json()["detail"]
        assert "vitascope-pose-" not in r.json()["detail"]  # no server-side temporary path
    r = client.post("/v1/jobs", json={"task": "t2v", "prompt": "x", "motion": "wave"})
    assert r.status_code == 422 and "input image" in r.json()["detail"], r.text
    assert sorted(os.listdir(uploads)) == before


def test_pose_tab_in_the_browser(server, tmp_path):
    """The Pose tab in Chromium: the template picker shows a preview, a figure upload with a motion runs."""
    import shutil
    from pathlib import Path

    if not Path("/usr/bin/chromium").exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    from serve_helpers import TOKEN

    picture = tmp_path / "figure.png"
    picture.write_bytes(_figure_png())
    with sync_api.sync_playwright() as p:
        exe = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(server.url + "/")
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        page.get_by_role("tab", name="Pose").click()
        sync_api.expect(page.locator("#pose-note")).to_contain_text("pick a motion", timeout=60_000)
        preview = page.locator("#pose-preview img")
        sync_api.expect(preview).to_have_attribute("src", re.compile(r"wave\.gif"), timeout=30_000)
        page.locator("#pose-motion input").fill("jump")
        page.locator("#pose-motion input").press("Enter")
        sync_api.expect(preview).to_have_attribute("src", re.compile(r"jump\.gif"), timeout=30_000)
        page.locator("#pose-image input[type=file]").set_input_files(str(picture))
        page.locator("#pose-steps input").fill("1")
        page.locator("#pose-frames input").fill("5")
        page.click("#pose-generate")
        sync_api.expect(page.locator("#pose-result video")).to_be_visible(timeout=90_000)
        sync_api.expect(page.locator("#pose-status")).to_contain_text("succeeded")
        browser.close()
