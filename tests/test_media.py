"""The incremental mp4 writer (H.264 + AAC) and the PNG writer, on real files decoded back with PyAV."""

import av
import numpy as np
import pytest

from vitascope.errors import InputFileError, InvalidOptionError
from vitascope.media import VideoWriter, as_pixels, read_video, write_png_frames, write_video
from vitascope.media_audio import read_audio, write_audio
from vitascope.mux import AudioTrack

FPS = 8


def _frames(n, h=32, w=48, seed=0):
    """Smooth moving gradients (noise would be blurred away by the encoder and compare badly)."""
    y, x = np.mgrid[0:h, 0:w]
    out = [
        np.stack([(x * 5 + 9 * i) % 256, (y * 7 + 5 * i) % 256, np.full_like(x, 40 * seed)], -1)
        for i in range(n)
    ]
    return np.asarray(out, dtype=np.uint8)


def _tone(seconds, rate, hz=440.0, channels=1):
    t = np.arange(round(seconds * rate)) / rate
    pcm = 0.5 * np.sin(2 * np.pi * hz * t).astype(np.float32)
    return np.repeat(pcm[:, None], channels, axis=1)


def _streams(path):
    with av.open(str(path)) as c:
        return {s.type: (s.codec_context.name, float(s.duration * s.time_base)) for s in c.streams}


def _channels(path):
    with av.open(str(path)) as c:
        return c.streams.audio[0].codec_context.channels


def _main_frequency(samples, rate):
    spectrum = np.abs(np.fft.rfft(samples))
    return np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()]


def test_chunked_writes_equal_one_write(tmp_path):
    frames = _frames(20)
    write_video(frames, tmp_path / "whole.mp4", fps=FPS)
    with VideoWriter(tmp_path / "chunks.mp4", fps=FPS) as w:
        for chunk in (frames[:1], frames[1:13], frames[13:]):
            w.write(chunk)
    a, fps = read_video(tmp_path / "whole.mp4")
    b, _ = read_video(tmp_path / "chunks.mp4")
    assert fps == FPS and a.shape == b.shape == (20, 32, 48, 3)
    assert np.array_equal(a, b)
    assert np.abs(a.astype(float) - frames).mean() < 8  # close to the input (4:2:0 chroma, crf 18)
    assert _streams(tmp_path / "chunks.mp4") == {"video": ("h264", 20 / FPS)}


@pytest.mark.parametrize(
    "seconds", [1.3, 4.0]
)  # shorter (padded with silence) and longer (cut) than the video
def test_pcm_audio_is_muxed_to_the_video_length(tmp_path, seconds):
    rate, n = 22050, 24  # 3 s of video
    out = tmp_path / "av.mp4"
    with VideoWriter(out, fps=FPS, audio=AudioTrack(_tone(seconds, rate, channels=2), rate)) as w:
        for chunk in np.split(_frames(n), [5, 17]):
            w.write(chunk)
    streams = _streams(out)
    assert streams["video"] == ("h264", n / FPS)
    assert streams["audio"] == ("aac", pytest.approx(n / FPS, abs=1024 / rate))
    audio = read_audio(out, rate)  # mono [N] at the track's own rate
    assert _channels(out) == 2
    assert abs(len(audio) - n / FPS * rate) <= 1024  # one AAC frame of encoder padding at most
    heard = min(seconds, n / FPS)
    loud = np.abs(audio[: int(0.9 * heard * rate)]).max()  # 0.5 per channel; the mono mix reads 0.71
    assert 0.3 < loud < 0.8 and _main_frequency(audio[: int(heard * rate)], rate) == pytest.approx(440, abs=5)
    if seconds < n / FPS:  # the padding is silence
        assert np.abs(audio[int((seconds + 0.1) * rate) :]).max() < 0.02


def test_audio_from_a_file(tmp_path):
    rate = 16000
    write_audio(_tone(2.0, rate, hz=1000)[:, 0], tmp_path / "voice.wav", rate)
    out = write_video(_frames(12), tmp_path / "a.mp4", fps=FPS, audio=tmp_path / "voice.wav")
    assert _streams(out)["audio"] == ("aac", pytest.approx(12 / FPS, abs=1024 / rate))
    audio = read_audio(out, rate)
    assert _channels(out) == 1 and _main_frequency(audio, rate) == pytest.approx(1000, abs=5)


def test_bad_audio_fails_clearly(tmp_path):
    with pytest.raises(InputFileError, match="audio file not found"):
        write_video(_frames(2), tmp_path / "x.mp4", audio=tmp_path / "missing.wav")
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(InputFileError, match="cannot read audio"):
        write_video(_frames(2), tmp_path / "x.mp4", audio=tmp_path / "notes.wav")
    with pytest.raises(InvalidOptionError, match="1 or 2 channels"):
        AudioTrack(np.zeros((100, 6), np.float32), 16000)
    with pytest.raises(InvalidOptionError, match="sample_rate"):
        AudioTrack(np.zeros(100, np.float32), 100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.wav"]  # no partial or temporary files


def test_writes_are_atomic(tmp_path):
    target = tmp_path / "clip.mp4"
    write_video(_frames(3, seed=1), target, fps=FPS)
    before = target.read_bytes()
    with pytest.raises(RuntimeError), VideoWriter(target, fps=FPS) as w:
        w.write(_frames(4))
        raise RuntimeError("decoder crashed")
    assert target.read_bytes() == before  # the finished file is untouched
    with pytest.raises(ValueError, match="uint8 frames"):
        write_video(np.zeros((2, 8, 8, 3), np.float32), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    folder = write_png_frames(_frames(3), tmp_path / "pngs")
    assert sorted(p.name for p in folder.iterdir()) == ["00000.png", "00001.png", "00002.png"]


def test_odd_sizes_are_padded(tmp_path):
    frames, _ = read_video(write_video(_frames(3, h=33, w=31), tmp_path / "odd.mp4"))
    assert frames.shape == (3, 34, 32, 3)


def test_pixels_are_checked():
    from PIL import Image

    img = _frames(1)[0]
    assert as_pixels(img) is img
    assert np.array_equal(as_pixels(Image.fromarray(img).convert("RGBA")), img)
    for bad in (img.astype(np.float32), img[..., :2], img[0], b"x"):
        with pytest.raises(InvalidOptionError, match="image"):
            as_pixels(bad)
