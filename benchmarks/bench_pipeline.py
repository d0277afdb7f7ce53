"""Whole-pipeline text-to-video latency: diffusers' HunyuanVideoPipeline against vitascope, same folder.

A diffusers pipeline is built offline from random parts (vitascope's tiny tokenizers and text encoders, a
HunyuanVideo transformer and VAE of the chosen size), saved with diffusers' own `save_pretrained`, and loaded
back by both libraries, so both run the identical weights. Each then generates the same prompt with the same
seed, size and steps (embedded guidance 6.0, no true CFG). Printed: load seconds, generate seconds (median of
interleaved runs) and diffusers/vitascope (>1 means vitascope is faster), and the max |difference| of the
frames so a ratio is never read off two pipelines that do different work.

    PYTHONPATH=src python3 benchmarks/bench_pipeline.py [--threads 1] [--repeat 3] [--sizes tiny,medium]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import init_weights, interleaved, quiet_diffusers, ratio_line, set_threads, setup_paths  # noqa: E402

setup_paths()

PROMPT = "a red circle moving right on a black background"


@dataclasses.dataclass(frozen=True)
class PipeSize:
    name: str
    heads: int
    head_dim: int
    rope: tuple[int, int, int]
    double: int
    single: int
    refiner: int
    vae_channels: tuple[int, int, int, int]
    llm_hidden: int
    clip_hidden: int
    height: int
    width: int
    frames: int
    steps: int
    inner: int = 1  # generations per timed run


SIZES = {
    # the parity test's pipeline (tests/pipelines/pipe_builders.py): Python overhead dominates
    "tiny": PipeSize("tiny", 2, 16, (4, 6, 6), 1, 1, 1, (8, 16, 16, 16), 32, 32, 32, 48, 5, 3, inner=5),
    # the medium transformer of bench_transformer.py (hidden 512, 2+4 blocks), 128x128x17 -> 320 video tokens
    "medium": PipeSize("medium", 4, 128, (16, 56, 56), 2, 4, 2, (16, 32, 32, 32), 128, 64, 128, 128, 17, 4),
}


def build_folder(size: PipeSize, folder: Path) -> Path:
    """Save a random diffusers HunyuanVideoPipeline of `size` into `folder` (nothing downloaded)."""
    from diffusers import (
        AutoencoderKLHunyuanVideo,
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideoPipeline,
        HunyuanVideoTransformer3DModel,
    )

    from vitascope.models.text.tiny import (
        tiny_clip_text_model,
        tiny_clip_tokenizer,
        tiny_llama_model,
        tiny_llama_tokenizer,
    )

    tok, ctok = tiny_llama_tokenizer(), tiny_clip_tokenizer()
    llm = tiny_llama_model(len(tok), hidden=size.llm_hidden, pad_token_id=tok.pad_token_id)
    clip = tiny_clip_text_model(hidden=size.clip_hidden)
    transformer = HunyuanVideoTransformer3DModel(
        in_channels=16,
        out_channels=16,
        num_attention_heads=size.heads,
        attention_head_dim=size.head_dim,
        num_layers=size.double,
        num_single_layers=size.single,
        num_refiner_layers=size.refiner,
        text_embed_dim=size.llm_hidden,
        pooled_projection_dim=size.clip_hidden,
        rope_axes_dim=size.rope,
    )
    init_weights(transformer, seed=12)
    with torch.no_grad():
        transformer.proj_out.weight.mul_(0.1)  # keeps a few Euler steps in a sane range with random weights
    vae = AutoencoderKLHunyuanVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=16,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=size.vae_channels,
        layers_per_block=1,
        norm_num_groups=4,
    )
    init_weights(vae, seed=11)
    pipe = HunyuanVideoPipeline(
        text_encoder=llm,
        tokenizer=tok,
        transformer=transformer.eval(),
        vae=vae.eval(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        text_encoder_2=clip,
        tokenizer_2=ctok,
    )
    pipe.save_pretrained(folder)
    return folder


def run_size(size: PipeSize, warmup: int, repeat: int) -> None:
    from diffusers import HunyuanVideoPipeline

    import vitascope
    from vitascope.pipelines.options import GenerationOptions

    with tempfile.TemporaryDirectory(prefix=f"bench_pipe_{size.name}_") as tmp:
        folder = build_folder(size, Path(tmp) / "hv")
        t0 = time.perf_counter()
        ref = HunyuanVideoPipeline.from_pretrained(folder)
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = vitascope.load_pipeline(folder)
        t_ours = time.perf_counter() - t0
    ref.set_progress_bar_config(disable=True)
    # diffusers' VAE decodes in temporal windows of 16 frames by default (use_framewise_decoding) and spatial
    # tiling off; vitascope decodes untiled unless asked. Give vitascope the same windows: same frames, same work.
    ours.vae.enable_tiling(spatial=False)

    opts = GenerationOptions(
        prompt=PROMPT,
        height=size.height,
        width=size.width,
        frames=size.frames,
        steps=size.steps,
        seed=7,
        guidance=6.0,
    )

    def run_ref():
        g = torch.Generator("cpu").manual_seed(7)
        return ref(
            prompt=PROMPT,
            height=size.height,
            width=size.width,
            num_frames=size.frames,
            num_inference_steps=size.steps,
            guidance_scale=6.0,
            generator=g,
            output_type="np",
        ).frames[0]

    def run_ours():
        return ours.generate(opts).video

    err = float(np.abs(run_ours() - run_ref()).max())
    timings = interleaved(
        {"vitascope": run_ours, "diffusers": run_ref}, warmup=warmup, repeat=repeat, inner=size.inner
    )
    split_ours = stage_split(
        run_ours,
        {
            "text": [ours.text_encoder, ours.clip_encoder],
            "dit": [ours.dit],
            "vae": [ours.vae, ours.vae.decoder],
        },
    )
    split_ref = stage_split(
        run_ref, {"text": [ref.text_encoder, ref.text_encoder_2], "dit": [ref.transformer], "vae": [ref.vae]}
    )
    label = f"{size.name} {size.height}x{size.width}x{size.frames}, {size.steps} steps"
    print(ratio_line(label, timings["vitascope"], timings["diffusers"], unit="s/video"))
    for name, split in (("vitascope", split_ours), ("diffusers", split_ref)):
        print(f"{'':<28} {name:<9} CPU s: " + ", ".join(f"{k} {v:.3f}" for k, v in split.items()))
    print(
        f"{'':<28} load: vitascope {t_ours:.2f} s, diffusers {t_ref:.2f} s; "
        f"max|frames vitascope - diffusers| {err:.1e} (frames in [0, 1]; "
        f"VAE in 16-frame windows, as diffusers' default)"
    )


def stage_split(run, stages: dict[str, list]) -> dict[str, float]:
    """Process CPU seconds of one run, split by stage: each listed object's forward / encode / decode calls
    are wrapped for the run (instance attributes, removed afterwards); the rest is "other"."""
    spent = dict.fromkeys(stages, 0.0)
    depth = dict.fromkeys(stages, 0)  # nested calls within a stage (decode -> forward) count once
    patched = []
    for stage, objs in stages.items():
        for obj in objs:
            for attr in ("forward", "run", "encode", "decode"):  # run: the DiT stages entry
                if not hasattr(obj, attr) or attr in vars(obj):
                    continue
                orig = getattr(obj, attr)

                def wrapper(*a, _orig=orig, _stage=stage, **k):
                    depth[_stage] += 1
                    c0 = time.process_time()
                    try:
                        return _orig(*a, **k)
                    finally:
                        depth[_stage] -= 1
                        if depth[_stage] == 0:
                            spent[_stage] += time.process_time() - c0

                setattr(obj, attr, wrapper)
                patched.append((obj, attr))
    c0 = time.process_time()
    try:
        run()
    finally:
        for obj, attr in patched:
            delattr(obj, attr)
    spent["other"] = time.process_time() - c0 - sum(spent.values())
    return spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="tiny,medium", help=f"comma-separated, from {sorted(SIZES)}")
    args = ap.parse_args()
    quiet_diffusers()
    threads = set_threads(args.threads)
    import diffusers

    print(
        f"torch {torch.__version__}, diffusers {diffusers.__version__}, threads {threads}, CPU float32, T2V"
    )
    for name in args.sizes.split(","):
        if name not in SIZES:
            raise SystemExit(f"unknown size {name!r}; choose from {sorted(SIZES)}")
        run_size(SIZES[name], args.warmup, args.repeat)


if __name__ == "__main__":
    main()
