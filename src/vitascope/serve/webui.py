"""The web UI: a Gradio page mounted at /ui by the same process as the API.

It holds no model. Each button queues a job through `JobService`, exactly as `POST /v1/jobs` does, then
follows the stored job until it ends, moving Gradio's progress bar with the denoising steps.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from vitascope.errors import VitascopeError
from vitascope.pipelines.avatar_inputs import EMOTIONS
from vitascope.serve.schemas import JobRequest
from vitascope.serve.service import JobService

log = logging.getLogger(__name__)

UI_PATH = "/ui"
GALLERY_SIZE = 24


def build_blocks(service: JobService):
    import gradio as gr

    def gallery():
        jobs = service.store.list(state="succeeded", limit=GALLERY_SIZE, newest_first=True)
        return [(str(service.video(j.id)), (j.options.get("prompt") or "")[:60]) for j in jobs]

    def follow(job_id: str, progress):
        """Wait for the job to end, moving the progress bar; return (status text, video path or None).

        A plain function, not a generator: every yield would end Gradio's progress display for a moment.
        """
        while True:
            job = service.get(job_id)
            if job.state == "queued":
                progress(0.0, desc=f"queued (position {service.queue_position(job)})")
            elif job.state == "running":
                progress(
                    job.step / job.total if job.total else 0.0, desc=f"step {job.step}/{job.total or '?'}"
                )
            elif job.state == "succeeded":
                return f"Job `{job_id}` succeeded.", str(service.video(job_id))
            else:
                return f"Job `{job_id}` {job.state}: {job.error or 'no reason given'}.", None
            time.sleep(0.25)

    def run(task, prompt, negative, height, width, frames, steps, seed, guidance, image_path, progress):
        fields = dict(task=task, prompt=prompt, negative_prompt=negative or None, height=_int(height),
                      width=_int(width), frames=_int(frames), steps=_int(steps), seed=int(seed or 0))  # fmt: skip
        fields[guidance_field(service)] = guidance  # the one guidance this model reads
        image = Path(image_path).read_bytes() if image_path else None
        try:
            job = service.submit(JobRequest(**fields), image)
        except VitascopeError as e:
            raise gr.Error(str(e)) from e
        return follow(job.id, progress)

    def t2v(prompt, negative, height, width, frames, steps, seed, guidance, progress=gr.Progress()):
        return run("t2v", prompt, negative, height, width, frames, steps, seed, guidance, None, progress)

    def i2v(image, prompt, negative, height, width, frames, steps, seed, guidance, progress=gr.Progress()):
        if not image:
            raise gr.Error("Upload a picture first: image-to-video starts from it.")
        return run("i2v", prompt, negative, height, width, frames, steps, seed, guidance, image, progress)

    def avatar(image_path, audio_path, audio2_path, emotion, prompt, steps, seed, size, box,
               progress=gr.Progress()):  # fmt: skip
        if not image_path or not audio_path:
            raise gr.Error("Upload a photo and a voice recording first: the avatar speaks the audio.")
        fields = dict(task="avatar", prompt=prompt or None, steps=_int(steps), seed=int(seed or 0),
                      image_size=_int(size), face_box=(box or "").strip() or None,
                      emotion=None if emotion in (None, "", "none") else emotion)  # fmt: skip
        voices = [Path(p).read_bytes() for p in (audio_path, audio2_path) if p]
        try:
            job = service.submit(
                JobRequest(**fields), Path(image_path).read_bytes(), voices if len(voices) > 1 else voices[0]
            )
        except VitascopeError as e:
            raise gr.Error(str(e)) from e
        return follow(job.id, progress)

    def avatar_note():
        service.worker.ready.wait(timeout=5)
        if service.worker.is_avatar:
            return "Upload a photo with a face and a voice recording; the video speaks the audio (25 fps)."
        return ("**The served model does not do avatar.** Start `vitascope serve --model` with a "
                "HunyuanVideo-Avatar folder to use this tab.")  # fmt: skip

    def settings(prefix: str):
        # values arrive on page load (`defaults` below): the model may still be loading when this is built
        with gr.Row():
            height = gr.Number(label="height", precision=0, elem_id=f"{prefix}-height")
            width = gr.Number(label="width", precision=0, elem_id=f"{prefix}-width")
            frames = gr.Number(label="frames (4k+1)", precision=0, elem_id=f"{prefix}-frames")
        with gr.Row():
            steps = gr.Number(label="steps", precision=0, elem_id=f"{prefix}-steps")
            seed = gr.Number(label="seed", value=0, precision=0, elem_id=f"{prefix}-seed")
            guidance = gr.Number(label="guidance", elem_id=f"{prefix}-guidance")  # relabelled on load
        negative = gr.Textbox(label="negative prompt", lines=1, elem_id=f"{prefix}-negative")
        return negative, height, width, frames, steps, seed, guidance

    def defaults():
        service.worker.ready.wait(timeout=5)
        d = service.worker.defaults
        if d is None or service.worker.is_avatar:
            return [None] * 10
        field = guidance_field(service)
        label = GUIDANCE_LABELS[field]
        one = [d.height, d.width, d.frames, d.steps, gr.update(value=getattr(d, field), label=label)]
        return one + one

    with gr.Blocks(title="Vitascope", analytics_enabled=False) as blocks:
        gr.Markdown("# Vitascope\nText-to-video, image-to-video or a talking avatar on the served model. "
                    "The same queue serves the HTTP API at `/v1/jobs` (docs at `/docs`).")  # fmt: skip
        with gr.Tabs():
            with gr.Tab("Text to video", id="t2v"):
                prompt = gr.Textbox(label="prompt", lines=2, elem_id="t2v-prompt")
                negative, height, width, frames, steps, seed, guidance = settings("t2v")
                go = gr.Button("Generate", variant="primary", elem_id="t2v-generate")
                status = gr.Markdown(elem_id="t2v-status")
                video = gr.Video(label="result", elem_id="t2v-video", autoplay=True)
                go.click(t2v, [prompt, negative, height, width, frames, steps, seed, guidance], [status, video],
                         concurrency_limit=None)  # fmt: skip
            with gr.Tab("Image to video", id="i2v"):
                image = gr.Image(label="first frame", type="filepath", elem_id="i2v-image")
                prompt2 = gr.Textbox(label="prompt", lines=2, elem_id="i2v-prompt")
                negative2, height2, width2, frames2, steps2, seed2, guidance2 = settings("i2v")
                go2 = gr.Button("Generate", variant="primary", elem_id="i2v-generate")
                status2 = gr.Markdown(elem_id="i2v-status")
                video2 = gr.Video(label="result", elem_id="i2v-video", autoplay=True)
                go2.click(i2v, [image, prompt2, negative2, height2, width2, frames2, steps2, seed2, guidance2],
                          [status2, video2], concurrency_limit=None)  # fmt: skip
            with gr.Tab("Avatar", id="avatar"):
                note = gr.Markdown(elem_id="avatar-note")
                with gr.Row():
                    photo = gr.Image(label="photo", type="filepath", elem_id="avatar-image")
                    voice = gr.Audio(
                        label="voice", type="filepath", sources=["upload"], elem_id="avatar-audio"
                    )
                    voice2 = gr.Audio(
                        label="second voice (optional: two faces, matched left to right)",
                        type="filepath",
                        sources=["upload"],
                        elem_id="avatar-audio2",
                    )
                prompt3 = gr.Textbox(label="prompt (optional)", lines=1, elem_id="avatar-prompt")
                with gr.Row():
                    steps3 = gr.Number(label="steps", value=50, precision=0, elem_id="avatar-steps")
                    seed3 = gr.Number(label="seed", value=0, precision=0, elem_id="avatar-seed")
                    size3 = gr.Number(label="image size", value=704, precision=0, elem_id="avatar-size")
                    box3 = gr.Textbox(label="face box x,y,w,h (optional; two voices: box;box)",
                                      elem_id="avatar-box")  # fmt: skip
                    emotion3 = gr.Dropdown(["none", *EMOTIONS], value="none", label="emotion",
                                           elem_id="avatar-emotion")  # fmt: skip
                go3 = gr.Button("Generate", variant="primary", elem_id="avatar-generate")
                status3 = gr.Markdown(elem_id="avatar-status")
                video3 = gr.Video(label="result", elem_id="avatar-video", autoplay=True)
                go3.click(avatar, [photo, voice, voice2, emotion3, prompt3, steps3, seed3, size3, box3],
                          [status3, video3], concurrency_limit=None)  # fmt: skip
        gr.Markdown("## Past jobs")
        past = gr.Gallery(
            label="finished videos", columns=6, height=260, object_fit="contain", elem_id="gallery"
        )
        refresh = gr.Button("Refresh", size="sm", elem_id="gallery-refresh")
        blocks.load(gallery, None, past)
        blocks.load(
            defaults,
            None,
            [height, width, frames, steps, guidance, height2, width2, frames2, steps2, guidance2],
        )
        blocks.load(avatar_note, None, note)
        refresh.click(gallery, None, past)
        video.change(gallery, None, past)
        video2.change(gallery, None, past)
        video3.change(gallery, None, past)
    return blocks


def mount(app, service: JobService) -> None:
    import gradio as gr

    blocks = build_blocks(service)
    gr.mount_gradio_app(
        app,
        blocks,
        path=UI_PATH,
        allowed_paths=[str(service.config.outputs.resolve())],
        max_file_size=service.config.max_upload_bytes,
        footer_links=["api"],
        run_history=False,
        ssr_mode=False,
        show_error=True,
    )


GUIDANCE_LABELS = {
    "guidance": "guidance (embedded in the model)",
    "cfg_scale": "guidance (true CFG scale; 1 = off)",
}


def guidance_field(service: JobService) -> str:
    """`guidance` for DiTs that embed it (the released T2V), `cfg_scale` for the others (the demo model):
    the UI's one guidance box must drive the guidance the served model actually uses."""
    pipe = service.worker.pipe
    if pipe is not None and not getattr(pipe.dit.config, "guidance_embed", True):
        return "cfg_scale"
    return "guidance"


def _int(v) -> int | None:
    # Gradio sends 0 for a cleared number box; 0 is never a valid size, so it means "model default"
    return None if v in (None, "", 0) else int(v)
