"""Write the golden tensors of the Avatar parity tests by running the official HunyuanVideo-Avatar code.

    python scripts/avatar_golden.py --official /path/to/HunyuanVideo-Avatar --out tests/golden/avatar/

The official modules are imported from the checkout as they are; only what cannot run on a CPU box is
stood in for: flash-attn's varlen attention (a per-segment softmax attention written here), the CUDA-only
`get_cu_seqlens`, and the unused imports `librosa` / `decord` / `torchvision` when they are not installed.
Nothing of the official code is copied into this project; this script only calls it.

Files written (all small; the ~1B-parameter DiT weights are regenerated from a seed by the tests):
  dit_forward.safetensors   Avatar DiT inputs + output (3072 wide, 2 double + 1 single block, fp32)
  keys.json                 every state-dict key and shape of the released 13B configuration (meta device)
  audio_windows.safetensors the signal, Whisper input features and per-frame windows (25 and 12.5 fps)
  whisper/                  the tiny random Whisper encoder and feature extractor used for those windows
  face_mask.safetensors     face masks from boxes (area 3.0) and their bilinear latent-grid resize
  sampling.safetensors      guidance scale, uncond branch, mask scale, DeepCache and window indices per step
  reference_size.safetensors  the reference image sizes for several inputs and --image-size values
"""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import logging
import os
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

SEED = 20250616  # the parity weights: vitascope.models.audio.seeded.seeded_state_dict(shapes, SEED)
TEXT_DIM, TEXT_DIM_2 = 64, 48  # the parity model's text widths (the release: 4096 and 768)
DEPTH = (2, 1)  # double, single blocks: two double blocks, so the first audio adapter (after block 1) runs


# ----------------------------------------------------------------------------------------------- shims
def varlen_attention(q, k, v, cu_q, cu_k, max_q=None, max_k=None, *args, **kwargs):
    """Stand-in for flash_attn_varlen_func: q/k/v [total, H, D]; each cu_seqlens segment attends to itself."""
    out = torch.empty_like(q)
    for s in range(len(cu_q) - 1):
        a, b = int(cu_q[s]), int(cu_q[s + 1])
        c, d = int(cu_k[s]), int(cu_k[s + 1])
        if b == a:
            continue
        qs, ks, vs = (t.transpose(0, 1)[None] for t in (q[a:b], k[c:d], v[c:d]))  # [1, H, n, D]
        out[a:b] = F.scaled_dot_product_attention(qs, ks, vs)[0].transpose(0, 1)
    return out


def cpu_cu_seqlens(text_mask, img_len):
    """The official cu_seqlens (valid text counted, padding its own segment), built on the mask's device."""
    B, S = text_mask.shape
    total = S + img_len
    cu = torch.zeros(2 * B + 1, dtype=torch.int32)
    for i in range(B):
        cu[2 * i + 1] = i * total + img_len + int(text_mask[i].sum())
        cu[2 * i + 2] = (i + 1) * total
    return cu


def _stub_attr(attr: str):
    if attr.startswith("__"):
        raise AttributeError(attr)
    return logging.getLogger("official")  # any other attribute: a harmless object


def install_shims(official: Path) -> None:
    os.environ["DISABLE_SP"] = "1"
    sys.path.insert(0, str(official))
    import diffusers.models  # noqa: F401  (before any stand-in module exists: diffusers probes packages)
    import transformers  # noqa: F401

    fa = types.ModuleType("flash_attn")
    fai = types.ModuleType("flash_attn.flash_attn_interface")
    fai.flash_attn_varlen_func = varlen_attention
    fa.flash_attn_interface = fai
    for m in (fa, fai):
        m.__spec__ = importlib.machinery.ModuleSpec(m.__name__, None)
    sys.modules.setdefault("flash_attn", fa)
    sys.modules.setdefault("flash_attn.flash_attn_interface", fai)
    for name in ("librosa", "decord", "torchvision", "torchvision.transforms", "loguru"):
        try:
            __import__(name)
        except ImportError:  # imported at module level by the data kits, never used by what we call
            mod = types.ModuleType(name)
            mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
            mod.__getattr__ = _stub_attr
            sys.modules[name] = mod
    import hymm_sp.modules.models_audio as ma

    ma.get_cu_seqlens = cpu_cu_seqlens


# ----------------------------------------------------------------------------------------------- DiT
def official_dit(depth_double: int, depth_single: int, text_dims=(TEXT_DIM, TEXT_DIM_2)):
    from hymm_sp.modules.models_audio import HYVideoDiffusionTransformer

    args = SimpleNamespace(
        text_projection="single_refiner",
        text_states_dim=text_dims[0],
        use_attention_mask=True,
        text_states_dim_2=text_dims[1],
    )
    return HYVideoDiffusionTransformer(
        args,
        in_channels=16,
        out_channels=16,
        hidden_size=3072,
        num_heads=24,
        mlp_width_ratio=4,
        depth_double_blocks=depth_double,
        depth_single_blocks=depth_single,
        rope_dim_list=[16, 56, 56],
    )


def dit_inputs(B=2, T=2, H=4, W=4, S=5):
    """Tiny latent grid: T=2 latent frames of 2x2 tokens, 4T-3 = 5 audio frames, padded text in sample 0."""
    g = torch.Generator().manual_seed(7)
    face = torch.rand(B, 1, 1, H, W, generator=g)  # fractional, as after the bilinear resize
    face[:, :, :, 0] = 0.0
    mask = torch.ones(B, S, dtype=torch.int64)
    mask[0, 3:] = 0
    return {
        "x": torch.randn(B, 16, T, H, W, generator=g),
        "t": torch.tensor([937.5, 120.0]),
        "ref_latents": torch.randn(B, 16, T, H, W, generator=g),
        "text_states": torch.randn(B, S, TEXT_DIM, generator=g),
        "text_mask": mask,
        "text_states_2": torch.randn(B, TEXT_DIM_2, generator=g),
        "motion_exp": torch.tensor([[30.0] * 4, [12.0, 40.0, 25.0, 3.0]]),
        "motion_pose": torch.tensor([[25.0] * 4, [5.0, 50.0, 20.0, 1.0]]),
        "fps": torch.tensor([25.0, 12.5]),
        "audio_prompts": torch.randn(B, 4 * T - 3, 10, 5, 384, generator=g),
        "face_mask": face,
    }


@torch.no_grad()
def golden_dit(out: Path) -> None:
    from hymm_sp.helpers import get_nd_rotary_pos_embed_new

    from vitascope.models.audio.seeded import seeded_state_dict

    model = official_dit(*DEPTH).eval()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    model.load_state_dict(seeded_state_dict(shapes, SEED), strict=True)
    inp = dit_inputs()
    T, H, W = inp["x"].shape[2:]
    cos, sin = get_nd_rotary_pos_embed_new(
        [16, 56, 56],
        [T, H // 2, W // 2],
        theta=256,
        use_real=True,
        concat_dict={"mode": "timecat", "bias": -1},
    )
    kw = {k: inp[k] for k in ("motion_exp", "motion_pose", "fps", "audio_prompts", "face_mask")}
    y = model(
        inp["x"],
        inp["t"],
        ref_latents=inp["ref_latents"],
        text_states=inp["text_states"],
        text_mask=inp["text_mask"],
        text_states_2=inp["text_states_2"],
        freqs_cos=cos,
        freqs_sin=sin,
        return_dict=False,
        **kw,
    )
    tensors = {k: v.contiguous() for k, v in inp.items()} | {"output": y.contiguous()}
    meta = {"seed": str(SEED), "text_dim": str(TEXT_DIM), "text_dim_2": str(TEXT_DIM_2)}
    meta |= {"double": str(DEPTH[0]), "single": str(DEPTH[1])}
    save_file(tensors, str(out / "dit_forward.safetensors"), metadata=meta)


def golden_keys(out: Path) -> None:
    with torch.device("meta"):
        model = official_dit(20, 40, (4096, 768))
    keys = {k: list(v.shape) for k, v in model.state_dict().items()}
    doc = {"config": "HYVideo-T/2, text dims 4096/768 (the release)", "keys": keys}
    (out / "keys.json").write_text(json.dumps(doc, indent=0, sort_keys=True) + "\n")


# ----------------------------------------------------------------------------------------------- audio
def test_signal(seconds=2.6, sr=16000) -> np.ndarray:
    """A voiced-like signal (harmonics of a gliding pitch, syllable envelope), quantised to int16 steps."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3.1 * t)) ** 2
    return np.round(0.3 * x / np.abs(x).max() * 32767).astype(np.int16)


@torch.no_grad()
def golden_audio(out: Path) -> None:
    import hymm_sp.data_kits.audio_dataset as ad
    from hymm_sp.data_kits.audio_preprocessor import encode_audio
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    torch.manual_seed(0)
    cfg = WhisperConfig(
        vocab_size=64, d_model=16, encoder_layers=4, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=80,
        max_source_positions=1500, max_target_positions=32, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        decoder_start_token_id=1,
    )  # fmt: skip
    whisper = WhisperModel(cfg).eval()
    fe = WhisperFeatureExtractor(feature_size=80)
    whisper.save_pretrained(out / "whisper")
    fe.save_pretrained(out / "whisper")

    pcm = test_signal()
    samples = pcm.astype(np.float32) / 32768.0
    ad.librosa = SimpleNamespace(load=lambda path, sr: (samples, 16000))
    feats, audio_len = ad.get_audio_feature(fe, "signal.wav")
    tensors = {"pcm": torch.from_numpy(pcm), "input_features_head": feats[0, :, :400].contiguous()}
    for name, fps in (("fps25", 25), ("fps12_5", 12.5)):
        tensors[f"windows_{name}"] = encode_audio(whisper, feats[0], fps, num_frames=audio_len).contiguous()
    # What `predict` really feeds the DiT: the batch carries the log-mel features in fp16 (`get_batch_data`)
    # and the windows are cast back to that dtype.
    batch = official_batch(fe, samples, (128, 96), 704)
    feats16 = batch["audio_prompts"][None]
    assert feats16.dtype == torch.float16 and batch["audio_len"] == audio_len
    win16 = encode_audio(whisper, feats16[0].to(torch.float32), 25, num_frames=audio_len).to(feats16.dtype)
    tensors["windows_fps25_release"] = win16.contiguous()
    save_file(tensors, str(out / "audio_windows.safetensors"), metadata={"audio_len": str(audio_len)})


def official_batch(fe, samples, size_wh, image_size):
    """`VideoAudioTextLoaderVal.get_batch_data` on a blank image of `size_wh` and the given samples, with
    the text encoders and image processors (unused by what we read back) stood in for."""
    import tempfile

    import hymm_sp.data_kits.audio_dataset as ad
    from PIL import Image

    ad.librosa = SimpleNamespace(load=lambda path, sr: (samples, 16000))
    ad.ToPILImage = lambda: lambda x: x
    tokens = lambda *a, **k: (torch.zeros(1, 4, dtype=torch.long), torch.ones(1, 4, dtype=torch.long))  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ref.png"
        Image.new("RGB", size_wh, (120, 100, 90)).save(path)
        stub = SimpleNamespace(
            meta_files=[
                {"videoid": "v", "image_path": str(path), "audio_path": "a.wav", "prompt": "p", "fps": 25.0}
            ],
            image_size=image_size,
            feature_extractor=fe,
            llava_transform=lambda img: torch.zeros(3, 4, 4),
            clip_image_processor=lambda images, return_tensors: SimpleNamespace(
                pixel_values=torch.zeros(1, 3, 4, 4)
            ),
            get_text_tokens=tokens,
            text_encoder=None,
            text_encoder_2=None,
        )
        return ad.VideoAudioTextLoaderVal.get_batch_data(stub, 0)


REF_SIZES = [(1280, 720, 704), (720, 1280, 704), (1000, 1000, 704), (333, 500, 704), (3000, 1000, 704),
             (640, 480, 512), (500, 900, 384), (1000, 700, 256), (800, 600, 600), (97, 131, 704)]  # fmt: skip


def golden_reference(out: Path) -> None:
    """The reference image sizes `get_batch_data` resizes to (short side, multiples of 64, area cap)."""
    from transformers import WhisperFeatureExtractor

    fe = WhisperFeatureExtractor(feature_size=80)
    samples = np.zeros(16000, np.float32)
    rows = []
    for w, h, size in REF_SIZES:
        px = official_batch(fe, samples, (w, h), size)["pixel_value_ref"]  # [1, 3, h', w']
        rows.append([w, h, size, px.shape[-1], px.shape[-2]])
    save_file({"sizes": torch.tensor(rows)}, str(out / "reference_size.safetensors"))


# ----------------------------------------------------------------------------------------------- face
FACE_CASES = [  # (height, width, box x, y, w, h or None for "no face")
    (96, 128, (40, 30, 20, 24)),
    (96, 128, (2, 3, 30, 30)),
    (128, 64, (17.5, 60.25, 21.0, 33.0)),
    (64, 64, None),
]


@torch.no_grad()
def golden_face(out: Path) -> None:
    from hymm_sp.data_kits.audio_preprocessor import get_facemask

    tensors = {}
    for n, (h, w, box) in enumerate(FACE_CASES):
        boxes = [] if box is None else [list(box)]
        img = torch.full((1, 1, 3, h, w), 128.0)

        def align(image, maxface=False, boxes=boxes):
            return None, None, boxes

        mask = get_facemask(img, align, area=3.0)  # [1, 1, 1, h, w]
        latent = F.interpolate(mask.float().squeeze(2), (h // 8, w // 8), mode="bilinear").unsqueeze(2)
        tensors[f"mask_{n}"] = mask.to(torch.uint8).contiguous()  # binary at image resolution
        tensors[f"latent_{n}"] = latent.contiguous()
        tensors[f"box_{n}"] = torch.tensor(box if box is not None else [-1, -1, -1, -1], dtype=torch.float64)
    save_file(tensors, str(out / "face_mask.safetensors"))


# ----------------------------------------------------------------------------------------------- sampling
class _Recorder:
    """Stands in for the DiT inside the official pipeline loop: records what each window is given."""

    def __init__(self, pipe):
        self.pipe, self.rows, self.config = pipe, [], SimpleNamespace(in_channels=16)

    def __call__(self, x, t, ref_latents, text_states, text_mask, text_states_2, is_cache=False, **kw):
        B, _, T, h, w = x.shape
        self.rows.append(
            {
                "t": float(t[0]),
                "guidance": self.pipe._guidance_scale,
                "uncond_text": float(text_states[0, 0, 0]),  # -1 negative, +1 positive
                "mask_scale": float(kw["face_mask"].max()),
                "is_cache": bool(is_cache),
                "idx": x[0, 0, :, 0, 0].float().round().long(),
                "audio": kw["audio_prompts"][1, :, 0, 0, 0].float(),
                "uncond_audio_zero": bool((kw["audio_prompts"][0] == 0).all()),
            }
        )
        S = text_states.shape[1]
        self.cache_out = torch.zeros(B, (T + 1) * (h // 2) * (w // 2) + S, 3072)
        return {"x": torch.zeros_like(x)}


def run_official_sampling(L: int, steps: int = 50):
    from hymm_sp.diffusion.pipelines.pipeline_hunyuan_video_audio import HunyuanVideoAudioPipeline
    from hymm_sp.diffusion.schedulers import FlowMatchDiscreteScheduler

    class Pipe(HunyuanVideoAudioPipeline):
        _execution_device = torch.device("cpu")

        def check_inputs(self, *a, **k):
            pass

        def maybe_free_model_hooks(self):
            pass

        def encode_prompt_audio_text_base(self, **kw):
            pos, neg, m = torch.ones(1, 4, 8), -torch.ones(1, 4, 8), torch.ones(1, 4, dtype=torch.long)
            return pos, neg, m, m

    pipe = object.__new__(Pipe)
    pipe._internal_dict = {}  # an empty diffusers config
    pipe.args = SimpleNamespace(precision="fp32", vae_precision="fp32", val_disable_autocast=True)
    pipe.scheduler = FlowMatchDiscreteScheduler(shift=5.0, reverse=True, solver="euler")
    pipe.text_encoder, pipe.text_encoder_2, pipe.vae_scale_factor = None, object(), 8
    pipe._progress_bar_config = {"disable": True}
    pipe.transformer = rec = _Recorder(pipe)
    infer_length = (L // 128 + 1) * 32 + 1
    latents = torch.arange(infer_length, dtype=torch.float32).view(1, 1, -1, 1, 1).expand(1, 16, -1, 2, 2)
    audio = torch.arange(1, L + 1, dtype=torch.float32).view(1, L, 1, 1, 1)
    try:
        call_official(pipe, L, steps, latents, audio)
    except UnboundLocalError:  # output_type="latent" is broken after the loop upstream; the loop has run
        pass
    return rec.rows


def call_official(pipe, L, steps, latents, audio):
    pipe(
        "p", ref_latents=torch.zeros(1, 16, 1, 2, 2), uncond_ref_latents=None, pixel_value_llava=None,
        uncond_pixel_value_llava=None, face_masks=torch.ones(1, 1, 1, 2, 2), audio_prompts=audio,
        uncond_audio_prompts=torch.zeros(1, 129, 1, 1, 1), motion_exp=torch.zeros(1, 4),
        motion_pose=torch.zeros(1, 4), fps=torch.tensor([25.0]), height=16, width=16, frame=129,
        num_inference_steps=steps, guidance_scale=7.5, latents=latents.clone(), output_type="latent",
        freqs_cis=(None, None), vae_ver="884-16c-hy0801", n_tokens=1,
    )  # fmt: skip


def golden_sampling(out: Path) -> None:
    tensors, meta = {}, {}
    for L in (129, 134, 305):
        rows = run_official_sampling(L)
        n = len(rows) // 50
        meta[f"windows_{L}"] = str(n)
        tensors[f"t_{L}"] = torch.tensor([r["t"] for r in rows[::n]])
        tensors[f"guidance_{L}"] = torch.tensor([r["guidance"] for r in rows[::n]], dtype=torch.float64)
        tensors[f"uncond_text_{L}"] = torch.tensor([r["uncond_text"] for r in rows[::n]])
        tensors[f"mask_scale_{L}"] = torch.tensor([r["mask_scale"] for r in rows[::n]])
        tensors[f"is_cache_{L}"] = torch.tensor([r["is_cache"] for r in rows[::n]])
        tensors[f"uncond_audio_zero_{L}"] = torch.tensor([r["uncond_audio_zero"] for r in rows])
        tensors[f"idx_{L}"] = torch.stack([r["idx"] for r in rows]).view(50, n, -1).to(torch.int16)
        tensors[f"audio_{L}"] = torch.stack([r["audio"] for r in rows]).view(50, n, -1).to(torch.int16)
    save_file(tensors, str(out / "sampling.safetensors"), metadata=meta)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--official", required=True, type=Path, help="a checkout of Tencent-Hunyuan/HunyuanVideo-Avatar"
    )
    p.add_argument("--out", default=Path("tests/golden/avatar"), type=Path)
    p.add_argument("--only", nargs="*", default=["dit", "keys", "audio", "face", "sampling", "reference"])
    a = p.parse_args(argv)
    if not (a.official / "hymm_sp" / "modules" / "models_audio.py").is_file():
        sys.exit(
            f"error: {a.official} is not a HunyuanVideo-Avatar checkout (no hymm_sp/modules/models_audio.py)"
        )
    a.out.mkdir(parents=True, exist_ok=True)
    install_shims(a.official.resolve())
    steps = {"dit": golden_dit, "keys": golden_keys, "audio": golden_audio, "face": golden_face}
    steps |= {"sampling": golden_sampling, "reference": golden_reference}
    for name in a.only:
        steps[name](a.out)
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
