"""Task `avatar` over HTTP with two voices (repeated `audio` file field, matched to the faces left to right),
a bundled emotion and an emotion image, on a real `vitascope serve` process and a tiny random Avatar folder
with the emotion module; bad combinations are refused with a 4xx and leave nothing behind."""

import io
import os

import numpy as np
import pytest
from PIL import Image
from serve_helpers import start, wait_job

from vitascope.media_audio import read_audio, write_audio
from vitascope.pipelines.avatar_inputs import mix_tracks
from vitascope.pipelines.tiny_avatar import write_tiny_avatar
from vitascope.synthetic.faces.audio import make_track
from vitascope.synthetic.faces.cartoon import draw_cartoon, sample_cartoon

SR = 16000
FORM = {"task": "avatar", "steps": "1", "seed": "2", "image_size": "64"}


def _png(pixels) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = write_tiny_avatar(tmp_path_factory.mktemp("avatar-emotion-model"), emotion=True)
    srv = start(tmp_path_factory.mktemp("avatar-speakers-data"), "--max-audio-seconds", "3", model=model)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def uploads(tmp_path_factory):
    d = tmp_path_factory.mktemp("voices")
    faces, bg = sample_cartoon(4, 2, 64, 128)
    speech = make_track("speech", 5, int(1.0 * SR))
    silent = np.zeros(int(0.6 * SR), np.float32)
    return {
        "photo": ("two.png", _png(draw_cartoon(faces, bg, 64, 128)), "image/png"),
        "speech": ("a.wav", write_audio(speech, d / "a.wav").read_bytes(), "audio/wav"),
        "silent": ("b.wav", write_audio(silent, d / "b.wav").read_bytes(), "audio/wav"),
        "tracks": (read_audio(d / "a.wav"), read_audio(d / "b.wav", allow_silent=True)),
    }


@pytest.mark.slow
def test_two_voices_and_an_emotion_over_http(server, uploads, tmp_path):
    files = [("image", uploads["photo"]), ("audio", uploads["speech"]), ("audio", uploads["silent"])]
    with server.client(timeout=120) as client:
        r = client.post("/v1/jobs", data={**FORM, "emotion": "happy"}, files=files)
        assert r.status_code == 201, r.text
        job = wait_job(client, r.json()["id"], timeout=300)
        assert job["state"] == "succeeded", job["error"]
        jid = job["id"]
        assert job["options"]["audio"] == [f"uploads/{jid}.wav", f"uploads/{jid}-1.wav"]
        assert job["options"]["emotion"] == "happy"
        video = tmp_path / "out.mp4"
        video.write_bytes(client.get(job["video_url"]).raise_for_status().content)
    a, b = uploads["tracks"]
    mix = mix_tracks(np.stack([a, np.pad(b, (0, a.size - b.size))]))
    decoded = read_audio(video)
    n = min(decoded.size, mix.size)
    assert np.corrcoef(decoded[:n], mix[:n])[0, 1] > 0.9  # the mp4 carries the mix of the two voices


def test_bad_speaker_and_emotion_uploads(server, uploads):
    data = server.data / "uploads"
    before = sorted(os.listdir(data))
    photo, speech, silent = uploads["photo"], uploads["speech"], uploads["silent"]
    emotion_png = ("e.png", _png(np.full((32, 32, 3), 200, np.uint8)), "image/png")
    cases = [
        ({}, [("audio", speech)] * 3, "3 audio track(s) but 2 face(s)"),
        ({}, [("audio", silent), ("audio", silent)], "every uploaded audio track is silent"),
        ({"face_box": "1,1,20,20"}, [("audio", speech), ("audio", silent)], "one box per voice"),
        ({"emotion": "bored"}, [("audio", speech), ("audio", silent)], "--emotion must be one of"),
        ({"emotion": "sad"}, [("audio", speech), ("emotion_image", emotion_png)], "not both"),
        ({}, [("audio", speech)] * 5, "too many 'audio' files"),
    ]
    with server.client(timeout=120) as client:
        for form, files, words in cases:
            r = client.post("/v1/jobs", data={**FORM, **form}, files=[("image", photo), *files])
            assert 400 <= r.status_code < 500, (words, r.text)
            assert words in r.json()["detail"], (words, r.json()["detail"])
        r = client.post("/v1/jobs", json={"task": "t2v", "prompt": "x", "emotion": "happy"})
        assert r.status_code == 422 and "only apply to task 'avatar'" in r.json()["detail"]
    assert sorted(os.listdir(data)) == before
