"""The web UI in a real browser: Playwright drives Debian's Chromium against a real server."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from serve_helpers import TOKEN, start  # noqa: E402

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (`make test` installs it: apt-get install chromium)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start(tmp_path_factory.mktemp("serve-ui"), "--max-steps", "1000")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def page(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def test_login_then_text_to_video_shows_the_video(server, page):
    from playwright.sync_api import expect

    page.goto(server.url + "/")
    expect(page).to_have_url(server.url + "/login?next=/")  # no token yet: the login form
    page.fill("input[name=token]", "not-the-token")
    page.click("button[type=submit]")
    expect(page.locator("body")).to_contain_text("Wrong token")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    expect(page).to_have_url(server.url + "/ui/")

    expect(page.locator("#t2v-height input")).to_have_value("32")  # the model's defaults arrived
    # the tiny model embeds guidance, so the one guidance box drives `guidance` (true CFG for the demo model)
    expect(page.locator("#t2v-guidance")).to_contain_text("embedded in the model")
    page.locator("#t2v-prompt textarea").fill("a red ball on a blue floor")
    page.locator("#t2v-steps input").fill("3")
    page.click("#t2v-generate")
    video = page.locator("#t2v-video video")
    expect(video).to_be_visible(timeout=90_000)
    assert ".mp4" in video.get_attribute("src")
    expect(page.locator("#t2v-status")).to_contain_text("succeeded")
    # the past-jobs gallery picked it up
    expect(page.locator("#gallery video").first).to_be_attached()

    # the browser's job went through the same queue the API serves
    with server.client() as c:
        jobs = c.get("/v1/jobs").json()["jobs"]
    mine = [j for j in jobs if j["prompt"] == "a red ball on a blue floor"]
    assert len(mine) == 1 and mine[0]["state"] == "succeeded"
    assert mine[0]["progress"] == {"step": 3, "total": 3}
    assert (server.data / "outputs" / f"{mine[0]['id']}.mp4").exists()


def test_a_bad_setting_shows_the_reason(server, page):
    from playwright.sync_api import expect

    page.goto(server.url + "/ui/")
    expect(page.locator("#t2v-height input")).to_have_value("32")
    page.locator("#t2v-prompt textarea").fill("too tall")
    page.locator("#t2v-height input").fill("40")
    page.click("#t2v-generate")
    expect(page.get_by_text("height must be a positive multiple of 16").first).to_be_visible()


def test_image_to_video_tab(server, page, tmp_path):
    from PIL import Image
    from playwright.sync_api import expect

    picture = tmp_path / "first.png"
    Image.new("RGB", (48, 32), (30, 160, 90)).save(picture)
    page.goto(server.url + "/ui/")
    page.get_by_role("tab", name="Image to video").click()
    page.locator("#i2v-image input[type=file]").set_input_files(str(picture))
    page.locator("#i2v-prompt textarea").fill("the green field sways")
    page.locator("#i2v-steps input").fill("2")
    page.click("#i2v-generate")
    expect(page.locator("#i2v-video video")).to_be_visible(timeout=90_000)
    with server.client() as c:
        jobs = c.get("/v1/jobs", params={"state": "succeeded"}).json()["jobs"]
    assert any(j["task"] == "i2v" and j["prompt"] == "the green field sways" for j in jobs)


def test_progress_bar_moves_and_a_cancel_from_the_api_shows_in_the_page(server, page):
    import re

    from playwright.sync_api import expect

    page.goto(server.url + "/ui/")
    expect(page.locator("#t2v-height input")).to_have_value("32")
    page.locator("#t2v-prompt textarea").fill("a long one")
    page.locator("#t2v-height input").fill("64")
    page.locator("#t2v-width input").fill("64")
    page.locator("#t2v-frames input").fill("5")
    page.locator("#t2v-steps input").fill("1000")
    page.click("#t2v-generate")
    tracker = page.locator("#t2v-video [data-testid=status-tracker]")
    expect(tracker).to_contain_text(re.compile(r"step [1-9]\d*/1000"))
    with server.client() as c:
        job = [
            j
            for j in c.get("/v1/jobs", params={"state": "running"}).json()["jobs"]
            if j["prompt"] == "a long one"
        ]
        assert len(job) == 1
        assert c.delete(f"/v1/jobs/{job[0]['id']}").status_code == 200
    expect(page.locator("#t2v-status")).to_contain_text("cancelled")


def test_rewrite_mode_and_a_lora_from_the_page(server, page):
    """The page's rewrite selector and LoRA list reach the job: its sidecar keeps both prompts and the LoRA."""
    import io
    import json

    from playwright.sync_api import expect
    from serve_helpers import tiny_model
    from test_serve_lora import _lora

    from vitascope.convert.lora_formats import save_lora
    from vitascope.pipelines.loader import load_pipeline

    path = server.data / "mine.safetensors"
    save_lora(_lora(load_pipeline(tiny_model()).dit, 5), path)
    with server.client() as c:  # an uploaded LoRA: the page lists it on load
        r = c.post("/v1/loras", files={"file": ("mine.safetensors", io.BytesIO(path.read_bytes()))})
        assert r.status_code == 201, r.text
        name = r.json()["name"]
    page.goto(server.url + "/ui/")
    expect(page.locator("#t2v-height input")).to_have_value("32")
    page.locator("#t2v-prompt textarea").fill("一个红色的圆向右移动")
    page.locator("#t2v-steps input").fill("2")
    page.locator("#t2v-rewrite input").click()
    page.get_by_role("option", name="normal").click()
    page.locator("#t2v-loras input").click()
    page.get_by_role("option", name=name).click()
    page.click("#t2v-generate")
    expect(page.locator("#t2v-status")).to_contain_text("succeeded", timeout=90_000)
    with server.client() as c:
        jobs = c.get("/v1/jobs", params={"state": "succeeded"}).json()["jobs"]
    (job,) = [j for j in jobs if j["options"].get("prompt_rewrite")]
    assert "red circle" in job["prompt"]
    side = json.loads((server.data / "outputs" / f"{job['id']}.mp4.json").read_text())
    assert side["prompt_rewrite"]["original"] == "一个红色的圆向右移动"
    assert [(x["name"], x["weight"]) for x in side["loras"]] == [(name, 1.0)]
