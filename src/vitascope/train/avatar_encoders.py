"""The frozen parts of the avatar task (VAE, Whisper, LLaVA, CLIP), its pool builder and its release-layout
export.

The Whisper is a small `WhisperModel` of our own with random weights (seeded), saved in the release's
`whisper-tiny/` layout, so the demo runs the real model's audio code path; its embedding layer is a
convolution of the log-mel spectrogram, so loudness reaches `audio_proj` (docs/avatar.md has the check).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import torch

from vitascope.train.avatar_pool import (
    encode_video,
    face_masks,
    jitter,
    reference_latents,
    save_pool,
    text_item,
    to_latent_grid,
)
from vitascope.train.checkpoint import run_folder

log = logging.getLogger(__name__)

PARTS = ("whisper-tiny", "llava_llama_image", "text_encoder_2")
DIT_DIR = Path("hunyuan-video-t2v-720p")
PROMPT_PREFIX = "Authentic, Realistic, Natural, High-quality, Lens-Fixed, "  # models.text.llava_avatar


@dataclasses.dataclass
class AvatarEncoders:
    root: Path  # holds whisper-tiny/, llava_llama_image/, text_encoder_2/
    vae_dir: Path
    vae: object
    whisper: object
    feature_extractor: object
    llava: object
    clip: object


def write_encoders(root: Path, opts, seed: int) -> None:
    """A random Whisper in the release's layout and the tiny LLaVA + CLIP (with tokenizers)."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    from vitascope.models.text.tiny import tiny_clip_text_model, tiny_clip_tokenizer, tiny_llava

    torch.manual_seed(seed)
    cfg = WhisperConfig(
        vocab_size=64, d_model=opts.whisper_width, encoder_layers=opts.whisper_layers, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=2 * opts.whisper_width,
        decoder_ffn_dim=2 * opts.whisper_width, num_mel_bins=80, max_source_positions=1500,
        max_target_positions=32, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
    )  # fmt: skip
    WhisperModel(cfg).eval().save_pretrained(root / "whisper-tiny")
    WhisperFeatureExtractor(feature_size=80).save_pretrained(root / "whisper-tiny")
    for obj in tiny_llava(seed=seed + 2):
        obj.save_pretrained(root / "llava_llama_image")
    tiny_clip_text_model(seed=seed + 1).save_pretrained(root / "text_encoder_2")
    tiny_clip_tokenizer().save_pretrained(root / "text_encoder_2")


def load_encoders(recipe, run_dir: Path, run_root: Path, rank: int) -> AvatarEncoders:
    from vitascope.models.audio.whisper import load_whisper
    from vitascope.models.text.clip import CLIPEncoder
    from vitascope.models.text.llava_avatar import AvatarLlavaEncoder
    from vitascope.models.vae import load_vae

    o = recipe.avatar_options
    if o.encoders_from:  # an earlier avatar run's export: the same Whisper and text encoders
        root = run_folder(o.encoders_from, run_root, "export") / "ckpts"
    else:
        root = Path(run_dir) / "encoders"
        if rank == 0 and not (root / "text_encoder_2").exists():
            write_encoders(root, o, recipe.seed + 100)
        from vitascope.train.avatar_task import _barrier

        _barrier()
    vae_dir = run_folder(recipe.vae_from, run_root, "export", "vae")
    if not (Path(vae_dir) / "config.json").exists():  # an avatar export: its VAE in the release layout
        vae_dir = run_folder(recipe.vae_from, run_root, "export", "ckpts", str(DIT_DIR), "vae")
    vae = load_vae(vae_dir).requires_grad_(False).eval()
    whisper, fe = load_whisper(root / "whisper-tiny")
    llava = AvatarLlavaEncoder.from_folder(root / "llava_llama_image", max_length=o.text_len)
    clip = CLIPEncoder.from_folder(root / "text_encoder_2")
    return AvatarEncoders(Path(root), Path(vae_dir), vae, whisper, fe, llava, clip)


def _scene_kwargs(kind: str, rng: np.random.Generator) -> dict:
    if kind == "duo":  # two faces with one expression, one of them silent (the multi-speaker stage)
        from vitascope.synthetic.faces import EXPRESSIONS

        voices = ("speech", "silent") if rng.random() < 0.5 else ("silent", "speech")
        e = EXPRESSIONS[int(rng.integers(len(EXPRESSIONS)))]
        return {"n_faces": 2, "audio": voices, "expressions": (e, e)}
    return {"n_faces": 1, "audio": ("singing",) if rng.random() < 0.2 else ("speech",)}


def _emotion_frame(o, expression: str, seed: int, height: int, width: int) -> np.ndarray:
    """A frame of another clip (another identity) with the same expression: the emotion reference."""
    from vitascope.train.avatar_data import face_clip

    clip = face_clip(seed, 5, height, width, n_faces=1, expressions=(expression,), audio=("silent",))
    return clip.frames[0]


def _photo_frames(clip, o, rng: np.random.Generator) -> np.ndarray:
    """The frames the photo is taken from: the clip's own, or (emotion pools, `emotion_swap` of the clips) the
    same scene with every face in another expression, so that the clip's expression is only in the emotion
    reference (as with `--emotion happy` on a neutral photo)."""
    from vitascope.synthetic.faces import EXPRESSIONS, make_clip

    if not o.emotion or rng.random() >= o.emotion_swap:
        return clip.frames
    want = clip.scene.faces[0].expression
    other = [e for e in EXPRESSIONS if e != want]
    e = other[int(rng.integers(len(other)))]
    faces = tuple(dataclasses.replace(f, expression=e) for f in clip.scene.faces)
    return make_clip(dataclasses.replace(clip.scene, faces=faces)).frames


def audio_offset(rng: np.random.Generator, frames: int, context: float) -> int:
    """Video frames of other audio before a clip of `frames`: 0 for a quarter of the clips, else uniform up to
    what leaves the clip inside `context` seconds (at 25 fps)."""
    room = int(context * 25) - frames
    return 0 if room <= 0 or rng.random() < 0.25 else int(rng.integers(1, room + 1))


def clip_audio_windows(tracks, enc: AvatarEncoders, o, rng: np.random.Generator) -> torch.Tensor:
    """[N, F, 10, K, D]: each track's Whisper windows, the clip placed at a random point of a recording.

    Whisper adds a positional embedding per 20 ms of its 30 s chunk (and attends across the chunk), so a
    frame's features depend on where in the recording it falls. Clips encoded alone only ever sit at the
    start; a model trained on them used the audio there and ignored it past the clip's length (measured:
    mouth-motion error at t = 0.9 with the clip's audio / another's 0.0234 / 0.0427 at the start, 0.0315 /
    0.0346 after 4 s of other speech). So each clip's audio follows `audio_context` x [0, 1) seconds of other
    world audio (speech, singing or silence; a quarter of the clips start at 0), the same amount for every
    face of the clip, and the clip's frames are cut out of the windows of the whole."""
    from vitascope.models.audio.whisper import SAMPLE_RATE, audio_windows
    from vitascope.synthetic.faces.audio import make_track

    per_frame = SAMPLE_RATE // 25  # samples per video frame at the pool's 25 fps
    F = len(tracks[0]) // per_frame
    k = audio_offset(rng, F, o.audio_context)
    out = []
    for track in tracks:
        before = np.zeros(0, np.float32)
        if k:
            kind = ("speech", "singing", "silent")[int(rng.choice(3, p=[0.6, 0.2, 0.2]))]
            before = make_track(kind, int(rng.integers(2**31)), k * per_frame)
        w = audio_windows(np.concatenate([before, track]), enc.whisper, enc.feature_extractor, fps=25.0)
        out.append(w[:, k : k + F])
    return torch.cat(out)


def latent_openings(clip, t: int) -> torch.Tensor:
    """[t]: the world's mouth opening (0-1) per latent frame, the mean over its video frames (frame 0 alone),
    the widest of the faces (a silent face's mouth is closed): the lip-sync read-out's target."""
    op = np.stack([np.asarray(f["mouth_open"], np.float32) for f in clip.truth["faces"]]).max(0)  # [F]
    op = np.concatenate([np.repeat(op[:1], 4), op])[: 4 * t]  # frame 0 alone in latent frame 0
    return torch.from_numpy(op.reshape(t, 4).mean(1))


@torch.no_grad()
def pool_item(i: int, recipe, enc: AvatarEncoders, height: int, width: int, texts: dict, kind: str) -> dict:
    from vitascope.train.avatar_data import box_weight, face_clip, mouth_boxes
    from vitascope.train.dit_task import sample_seed

    o = recipe.avatar_options
    seed = sample_seed(recipe.seed, 77, i)
    rng = np.random.default_rng([recipe.seed, 78, i])
    clip = face_clip(seed, o.clip_frames, height, width, **_scene_kwargs(kind, rng))
    z = encode_video(enc.vae, clip.frames)  # [C, t, h, w]
    C, t, h, w = z.shape
    r = 0 if rng.random() < o.first_frame_ref else int(rng.integers(o.clip_frames))
    photo = jitter(_photo_frames(clip, o, rng)[r], rng, o.ref_jitter)
    audio = clip_audio_windows(clip.tracks, enc, o, rng)  # [N, F, 10, K, D]
    boxes = np.stack([f["box"] for f in clip.truth["faces"]])
    mouth = box_weight(mouth_boxes(clip), height, width, 1.0) - 1.0  # [1, F, H, W] 0/1
    item = {
        "latents": z.half(),
        "ref": reference_latents(enc.vae, photo, o.window).half(),
        "audio": audio.half(),
        "face": face_masks(boxes, r, height, width, h, w),
        "mouth": to_latent_grid(mouth, t, h, w),
        "open": latent_openings(clip, t),
    }
    for p, prompt in (("", texts["prompt"]), ("neg_", texts["negative"])):
        ti = text_item(enc.llava, prompt, photo)
        item |= {p + "states": ti["states"], p + "mask": ti["mask"], p + "pooled": texts[p + "pooled"]}
    if o.emotion:
        frame = _emotion_frame(o, clip.scene.faces[0].expression, seed + 1, height, width)
        item["emotion"] = encode_video(enc.vae, frame[None]).half()
    return item


def build_pool(
    path: Path, recipe, enc: AvatarEncoders, height: int, width: int, kind: str = "single"
) -> None:
    import time

    from vitascope.models.text.llava_avatar import NEGATIVE_SUFFIX
    from vitascope.models.text.templates import NEGATIVE_PROMPT

    o = recipe.avatar_options
    prompt, negative = PROMPT_PREFIX + o.prompt, NEGATIVE_PROMPT + NEGATIVE_SUFFIX
    texts = {"prompt": prompt, "negative": negative}
    texts["pooled"], texts["neg_pooled"] = (enc.clip.encode([p])[0].float() for p in (prompt, negative))
    start, items = time.monotonic(), []
    for i in range(o.pool_size):
        items.append(pool_item(i, recipe, enc, height, width, texts, kind))
        if (i + 1) % 20 == 0:
            log.info(
                "avatar pool %s: %d/%d clips (%.0f s)",
                path.name,
                i + 1,
                o.pool_size,
                time.monotonic() - start,
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    save_pool(path, items)


def write_release_folder(folder: Path, recipe, enc: AvatarEncoders, state: dict) -> Path:
    """<folder>/ckpts/hunyuan-video-t2v-720p/transformers/mp_rank_00_model_states.pt {"module": state},
    its config.json (rope sizes, head count: the release ships none) and avatar.json (window, text length,
    generation defaults), vae/, whisper-tiny/, llava_llama_image/, text_encoder_2/, det_align/."""
    from vitascope.io.files import torch_save_atomic, write_json_atomic

    o = recipe.avatar_options
    ckpts = Path(folder) / "ckpts"
    tdir = ckpts / DIT_DIR / "transformers"
    tdir.mkdir(parents=True, exist_ok=True)
    torch_save_atomic(tdir / "mp_rank_00_model_states.pt", {"module": state})
    cfg = recipe.dit
    write_json_atomic(
        tdir / "config.json", {"rope_dim_list": list(cfg.rope_dim_list), "heads_num": cfg.heads_num}
    )
    write_json_atomic(
        tdir / "avatar.json",
        {
            "window": o.window,
            "text_max_length": o.text_len,
            "defaults": dict(o.defaults),
            "recipe": recipe.name,
        },
    )
    for part in PARTS:
        if (ckpts / part).resolve() != (enc.root / part).resolve():
            shutil.copytree(enc.root / part, ckpts / part, dirs_exist_ok=True)
    shutil.copytree(enc.vae_dir, ckpts / DIT_DIR / "vae", dirs_exist_ok=True)
    (ckpts / "det_align").mkdir(exist_ok=True)
    (ckpts / "det_align" / "README.txt").write_text(
        "The release's face detector (detface.pt) is opt-in and not bundled: OpenCV's cascade or --face-box.\n"
    )
    log.info("avatar export: %s", json.dumps({"folder": str(folder), "window": o.window}))
    return folder
