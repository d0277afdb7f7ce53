"""Task `avatar` over HTTP: a real `vitascope serve` process on the tiny random Avatar folder, a drawn face and
a synthetic voice uploaded as multipart files; the finished mp4 carries the voice as an AAC stream. Bad
uploads are refused with a 4xx and a clear sentence, and leave nothing in the uploads folder."""

import io
import os

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw
from serve_helpers import start, wait_job

from vitascope.media_audio import read_audio, write_audio
from vitascope.pipelines.tiny_avatar import write_tiny_avatar

SR = 16000


def _voiced(seconds, f0=130.0):
    """Harmonics of a wobbling f0, syllable-modulated: a speech-like signal without a TTS."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 + 25 * np.sin(2 * np.pi * 0.5 * t)) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 10)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2.7 * t)) ** 2
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def _face_png() -> bytes:
    """A drawn face: skin oval, two eyes, a mouth, on a grey background (80x64)."""
    img = Image.new("RGB", (64, 80), (120, 120, 130))
    d = ImageDraw.Draw(img)
    d.ellipse((12, 12, 52, 64), fill=(225, 180, 150))
    d.ellipse((20, 28, 28, 34), fill=(40, 40, 40))
    d.ellipse((36, 28, 44, 34), fill=(40, 40, 40))
    d.rectangle((24, 48, 40, 52), fill=(150, 50, 50))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _wav(tmp_path, samples, name="voice.wav") -> bytes:
    return write_audio(samples, tmp_path / name).read_bytes()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_tiny_avatar(tmp_path_factory.mktemp("avatar-model"))


@pytest.fixture(scope="module")
def server(tmp_path_factory, model):
    srv = start(tmp_path_factory.mktemp("avatar-data"), "--max-audio-seconds", "3", model=model)
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    with server.client(timeout=120) as c:
        yield c


FORM = {"task": "avatar", "prompt": "a person talks", "steps": "1", "seed": "3",
        "face_box": "12,12,40,52", "image_size": "64"}  # fmt: skip


def test_avatar_job_succeeds_with_audio(server, client, tmp_path):
    health = client.get("/v1/health").json()
    assert health["tasks"] == ["avatar"] and health["defaults"]["steps"] == 50
    samples = _voiced(1.2)
    files = {
        "image": ("face.png", _face_png(), "image/png"),
        "audio": ("v.wav", _wav(tmp_path, samples), "audio/wav"),
    }
    r = client.post("/v1/jobs", data=FORM, files=files)
    assert r.status_code == 201, r.text
    job = wait_job(client, r.json()["id"], timeout=120)
    assert job["state"] == "succeeded", job["error"]
    assert job["task"] == "avatar" and job["progress"]["step"] == job["progress"]["total"] == 1
    assert job["options"]["audio"] == f"uploads/{job['id']}.wav"
    video = tmp_path / "out.mp4"
    video.write_bytes(client.get(job["video_url"]).raise_for_status().content)
    with av.open(str(video)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.audio[0].codec_context.name == "aac"
        frames = sum(1 for _ in c.decode(video=0))
    decoded = read_audio(video)
    assert abs(frames / 25 - 1.2) <= 1 / 25 and abs(decoded.size - samples.size) <= SR // 25
    n = min(decoded.size, samples.size)
    assert np.corrcoef(decoded[:n], samples[:n])[0, 1] > 0.9  # the uploaded voice, in sync


def test_bad_avatar_uploads_get_4xx_and_store_nothing(server, client, tmp_path):
    uploads = server.data / "uploads"
    before = sorted(os.listdir(uploads))
    face = ("face.png", _face_png(), "image/png")
    voice = ("v.wav", _wav(tmp_path, _voiced(1.0)), "audio/wav")
    silent = ("s.wav", _wav(tmp_path, np.zeros(SR, np.float32), "s.wav"), "audio/wav")
    corrupt = ("c.wav", b"RIFF\x00\x00\x00\x00WAVEfmt " + os.urandom(2000), "audio/wav")
    long = ("l.wav", _wav(tmp_path, _voiced(4.0), "l.wav"), "audio/wav")
    text = ("face.png", b"this is not a picture", "image/png")
    cases = [
        ({"image": face}, "audio"),
        ({"image": face, "audio": corrupt}, "cannot decode"),
        ({"image": face, "audio": silent}, "silent"),
        ({"image": face, "audio": long}, "longer than the limit of 3 s"),
        ({"image": text, "audio": voice}, "not an image"),
        ({"audio": voice}, "image"),
    ]
    for files, words in cases:
        r = client.post("/v1/jobs", data=FORM, files=files)
        assert 400 <= r.status_code < 500, (words, r.text)
        assert words in r.json()["detail"], r.json()["detail"]
        assert "vitascope-audio-" not in r.json()["detail"]  # no server-side temporary path in the message
    r = client.post("/v1/jobs", json={"task": "t2v", "prompt": "x"})
    assert r.status_code == 422 and "does not do task 't2v'" in r.json()["detail"]
    r = client.post(
        "/v1/jobs", data={**FORM, "face_box": "50,50,40,40"}, files={"image": face, "audio": voice}
    )
    assert r.status_code == 422, r.text
    r = client.post("/v1/jobs", data={**FORM, "image_size": "4096"}, files={"image": face, "audio": voice})
    assert r.status_code == 422 and "lower image_size" in r.json()["detail"], r.text
    no_box = {k: v for k, v in FORM.items() if k != "face_box"}
    grey = io.BytesIO()
    Image.new("RGB", (64, 80), (128, 128, 128)).save(grey, format="PNG")
    r = client.post(
        "/v1/jobs", data=no_box, files={"image": ("g.png", grey.getvalue(), "image/png"), "audio": voice}
    )
    assert r.status_code == 422 and "no face found" in r.json()["detail"], r.text
    assert sorted(os.listdir(uploads)) == before


@pytest.mark.slow
def test_avatar_cancel_and_restart(tmp_path_factory, tmp_path, model):
    """A running avatar job cancels at its next step; a queued one survives a restart (the stored PNG and
    wav are what the next process reads) and succeeds."""
    data = tmp_path_factory.mktemp("avatar-restart")
    files = {
        "image": ("face.png", _face_png(), "image/png"),
        "audio": ("v.wav", _wav(tmp_path, _voiced(1.0)), "audio/wav"),
    }
    srv = start(data, model=model)
    try:
        with srv.client(timeout=60) as c:
            slow = (
                c.post("/v1/jobs", data={**FORM, "steps": "100"}, files=files).raise_for_status().json()["id"]
            )
            queued = (
                c.post("/v1/jobs", data={**FORM, "steps": "2"}, files=files).raise_for_status().json()["id"]
            )
            wait_job(c, slow, until=("running",), pred=lambda j: j["progress"]["step"] >= 1)
            assert c.delete(f"/v1/jobs/{slow}").status_code == 200
            job = wait_job(c, slow, timeout=60)
            assert job["state"] == "cancelled" and "cancelled by request" in job["error"]
            third = (
                c.post("/v1/jobs", data={**FORM, "steps": "100"}, files=files).raise_for_status().json()["id"]
            )
    finally:
        srv.stop()
    srv = start(data, model=model)
    try:
        with srv.client(timeout=60) as c:
            states = {j: c.get(f"/v1/jobs/{j}").json()["state"] for j in (queued, third)}
            assert set(states.values()) <= {"queued", "running", "succeeded"}, states
            job = wait_job(c, queued, timeout=120)
            assert job["state"] == "succeeded", job["error"]
            assert c.delete(f"/v1/jobs/{third}").status_code == 200
            assert av.open(str(data / "outputs" / f"{queued}.mp4")).streams.audio
    finally:
        srv.stop()


def test_avatar_tab_in_the_browser(server, tmp_path):
    """The Avatar tab: photo + voice uploaded in Chromium, one step, the result video appears."""
    import shutil
    from pathlib import Path

    if not Path("/usr/bin/chromium").exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    from serve_helpers import TOKEN

    photo = tmp_path / "face.png"
    photo.write_bytes(_face_png())
    wav = write_audio(_voiced(1.0), tmp_path / "voice.wav")
    with sync_api.sync_playwright() as p:
        exe = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(server.url + "/")
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        page.get_by_role("tab", name="Avatar").click()
        sync_api.expect(page.locator("#avatar-note")).to_contain_text("Upload a photo with a face")
        page.locator("#avatar-image input[type=file]").set_input_files(str(photo))
        page.locator("#avatar-audio input[type=file]").set_input_files(str(wav))
        page.locator("#avatar-steps input").fill("1")
        page.locator("#avatar-size input").fill("64")
        page.locator("#avatar-box textarea, #avatar-box input").first.fill("12,12,40,52")
        page.click("#avatar-generate")
        sync_api.expect(page.locator("#avatar-video video")).to_be_visible(timeout=90_000)
        sync_api.expect(page.locator("#avatar-status")).to_contain_text("succeeded")
        browser.close()
