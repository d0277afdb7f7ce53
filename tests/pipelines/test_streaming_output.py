"""`generate` with an output path streams the VAE decode into the file: same frames as the in-memory call,
memory flat in the number of frames, an optional audio track, and the VAE's own tiling left alone."""

import json
import time
import tracemalloc
import wave

import av
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import vitascope
from models.vae.vae_memory import LiveTensorPeak
from vitascope import cli
from vitascope.errors import CancelledError, InvalidOptionError
from vitascope.pipelines.options import GenerationOptions, Limits
from vitascope.pipelines.tiny import TINY_DEFAULTS, write_tiny_model
from vitascope.pipelines.video import _skip_frames

PROMPT = "a green triangle moving left on a black background"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def pipe(folder):
    pipe = vitascope.load_pipeline(folder)
    pipe.vae_decode = "windows"  # these tests are about windowed, memory-flat decoding
    return pipe


def _opts(**kw):
    return GenerationOptions(**{"prompt": PROMPT, "height": 32, "width": 48, "steps": 2, "seed": 3, **kw})


def test_streamed_frames_equal_the_in_memory_frames(pipe, tmp_path):
    opts = _opts(frames=41)  # 11 latent frames: four VAE windows
    in_memory = pipe.generate(opts)
    seen = []
    streamed = pipe.generate(
        opts, output=str(tmp_path / "pngs") + "/", decode_progress=lambda d, t: seen.append((d, t))
    )
    assert streamed.video is None and streamed.num_frames == 41 == in_memory.num_frames
    pngs = sorted(streamed.path.glob("*.png"))
    got = np.stack([np.asarray(Image.open(p)) for p in pngs])
    assert np.array_equal(got, in_memory.frames)  # lossless: the streamed decode is the same decode
    assert seen == [(13, 41), (25, 41), (37, 41), (41, 41)]
    meta = json.loads((streamed.path / "metadata.json").read_text())
    assert meta["frames"] == 41 and meta["options"]["seed"] == 3
    with pytest.raises(InvalidOptionError, match="streamed to"):
        _ = streamed.frames


def test_cancel_during_the_decode_leaves_no_file(pipe, tmp_path):
    decoding = []
    with pytest.raises(CancelledError, match="VAE decode"):
        pipe.generate(
            _opts(frames=41),
            should_stop=lambda: bool(decoding),
            output=tmp_path / "gone.mp4",
            decode_progress=lambda done, total: decoding.append(done),
        )
    assert decoding and list(tmp_path.iterdir()) == []


def test_generate_does_not_change_the_vae_tiling(pipe, tmp_path):
    from vitascope.models.vae import TilingConfig

    assert pipe.vae.tiling is None
    pipe.vae_tiling = True
    try:
        pipe.generate(_opts(frames=21), output=tmp_path / "a.mp4")
        assert pipe.vae.tiling is None
        own = TilingConfig(tile_height=64, stride_height=32)
        pipe.vae.enable_tiling(own)
        pipe.generate(_opts(frames=5))
        assert pipe.vae.tiling == own
    finally:
        pipe.vae.disable_tiling()
        pipe.vae_tiling = False


def test_image_as_pixels_path_or_pil_gives_the_same_video(pipe, tmp_path):
    img = np.zeros((40, 40, 3), np.uint8)
    img[10:30, 12:28] = (255, 255, 0)
    Image.fromarray(img).save(tmp_path / "first.png")
    kw = dict(task="i2v", frames=9, height=32, width=32)
    by_path = pipe.generate(_opts(image=str(tmp_path / "first.png"), **kw))
    by_pixels = pipe.generate(_opts(image=img, **kw))
    by_pil = pipe.generate(_opts(image=Image.fromarray(img).convert("RGBA"), **kw))
    assert np.array_equal(by_path.video, by_pixels.video) and np.array_equal(by_path.video, by_pil.video)
    described = json.loads(json.dumps(by_pixels.metadata))["options"]["image"]
    assert described["pixels"] == [40, 40] and len(described["sha256"]) == 64
    with pytest.raises(InvalidOptionError, match="uint8 array"):
        _opts(image=img.astype(np.float32), **kw)


def test_cli_muxes_an_audio_file(folder, tmp_path):
    rate = 16000
    tone = (0.4 * np.sin(2 * np.pi * 500 * np.arange(rate * 3) / rate) * 32767).astype(np.int16)
    with wave.open(str(tmp_path / "speech.wav"), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(tone.tobytes())
    out = tmp_path / "talk.mp4"
    cli._register()
    args = ["generate", "--model", str(folder), "--prompt", PROMPT, "--frames", "13", "--fps", "8"]
    r = CliRunner().invoke(cli.app, [*args, "--audio", str(tmp_path / "speech.wav"), "--output", str(out)])
    assert r.exit_code == 0, r.output
    assert "13 frames" in r.output
    with av.open(str(out)) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert audio.codec_context.name == "aac" and video.codec_context.name == "h264"
        assert float(video.duration * video.time_base) == 13 / 8
        assert float(audio.duration * audio.time_base) == pytest.approx(13 / 8, abs=1024 / rate)
        assert sum(f.samples for f in c.decode(audio)) == pytest.approx(13 / 8 * rate, abs=1024)
    assert json.loads((tmp_path / "talk.mp4.json").read_text())["audio"].endswith("speech.wav")


def test_skip_frames_across_chunks():
    video = np.arange(12)[:, None]
    chunks = [video[:3], video[3:8], video[8:]]
    assert np.array_equal(np.concatenate(list(_skip_frames(iter(chunks), 4))), video[4:])
    assert np.array_equal(np.concatenate(list(_skip_frames(iter(chunks), 0))), video)


def test_frame_limits_scale_with_the_size():
    limits = Limits()
    _opts(frames=1025, height=256, width=448).resolve(TINY_DEFAULTS, limits)
    with pytest.raises(InvalidOptionError, match=r"use at most 129 frames at this size"):
        _opts(frames=133, height=720, width=1280).resolve(TINY_DEFAULTS, limits)
    with pytest.raises(InvalidOptionError, match="limit of 1025"):
        _opts(frames=1029, height=16, width=16).resolve(TINY_DEFAULTS, limits)


def _decode_write_peak(pipe, tmp_path, latent_frames: int, streamed: bool) -> int:
    """Peak bytes of live torch tensors plus numpy arrays while decoding and writing (not the denoise)."""
    opts, _ = pipe.resolve(_opts(frames=4 * (latent_frames - 1) + 1, height=32, width=32))
    latents = torch.randn(1, 16, latent_frames, 4, 4, generator=torch.Generator().manual_seed(0))
    output = tmp_path / f"m{latent_frames}.mp4" if streamed else None
    tracemalloc.start()  # numpy reports its buffers to tracemalloc; torch's CPU storages go to LiveTensorPeak
    try:
        with LiveTensorPeak() as tensors:
            pipe._decode_and_write(latents, opts, None, time.perf_counter(), output=output)
        arrays = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return tensors.peak + arrays


def test_streaming_memory_does_not_grow_with_frames(pipe, tmp_path):
    _decode_write_peak(pipe, tmp_path, 2, streamed=True)  # warm-up: lazy imports and codec set-up
    short = _decode_write_peak(pipe, tmp_path, 9, streamed=True)  # 33 frames, 3 VAE windows
    long = _decode_write_peak(pipe, tmp_path, 33, streamed=True)  # 129 frames, 11 windows
    held = _decode_write_peak(pipe, tmp_path, 33, streamed=False)  # the same, kept in memory
    assert long <= 1.3 * short, (short, long)  # measured 1.00
    video_bytes = 129 * 32 * 32 * 3 * 4  # float32 frames
    assert held - long >= 0.75 * video_bytes, (long, held)  # the measure sees a video that is held whole
