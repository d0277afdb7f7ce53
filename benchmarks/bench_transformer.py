"""Transformer step latency: vitascope's HunyuanVideoDiT against diffusers' HunyuanVideoTransformer3DModel.

Both models hold the same weights (vitascope's random init, converted with `tencent_to_diffusers`) and see the
same inputs: batch 1, text padded to a fixed length with only part of it real, as a prompt is in real use.
Each row prints seconds per forward (median of interleaved runs, no grad) and diffusers/vitascope (>1 means
vitascope is faster), plus the max |difference| of the two outputs so a ratio is never read off two models
that compute different things.

    # CPU, fp32: the tiny test config and a medium one (a few hundred tokens)
    PYTHONPATH=src python3 benchmarks/bench_transformer.py [--threads 1] [--repeat 5] [--profile]
    # CUDA, bf16: the full 13B config at 544x960x129 and 720x1280x129 (skipped with a message without CUDA)
    PYTHONPATH=src python3 benchmarks/bench_transformer.py --gpu [--repeat 2] [--gpu-shapes 544,720]
    # the --gpu code path (meta init, shared bf16 weights, FLOP count) on CPU at medium size
    PYTHONPATH=src python3 benchmarks/bench_transformer.py --gpu-path-on-cpu
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import dit_flops, init_weights, interleaved, quiet_diffusers, ratio_line, set_threads, setup_paths  # noqa: E402

setup_paths()
from vitascope.models.dit import DiTConfig, HunyuanVideoDiT  # noqa: E402
from vitascope.specs import HUNYUAN_T2V, TINY  # noqa: E402

# Medium: real head dim (128) and RoPE split, 2 double + 4 single blocks, hidden 512.
MEDIUM = DiTConfig(
    hidden_size=512,
    heads_num=4,
    mm_double_blocks_depth=2,
    mm_single_blocks_depth=4,
    rope_dim_list=(16, 56, 56),
    text_states_dim=1024,
    text_states_dim_2=256,
)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    config: DiTConfig
    latent: tuple[int, int, int, int]  # (C, T, H, W) before patching
    text_tokens: int  # S, padded length
    text_valid: int  # real tokens; the rest is padding
    inner: int = 1  # forwards per timed run (milliseconds-long steps need several)


CPU_CASES = [
    Case("tiny  (72+16 tokens)", TINY, (16, 3, 8, 12), 16, 9, inner=20),
    Case("medium (320+64 tokens)", MEDIUM, (16, 5, 16, 16), 64, 24),
    # the pipelines pad every prompt to 256 tokens (the official max_length); a short prompt keeps ~20
    Case("medium (320+256 tokens)", MEDIUM, (16, 5, 16, 16), 256, 20),
]
GPU_CASES = [
    Case("13B 544x960x129", HUNYUAN_T2V, (16, 33, 68, 120), 256, 77),
    Case("13B 720x1280x129", HUNYUAN_T2V, (16, 33, 90, 160), 256, 77),
]


def build_pair(cfg: DiTConfig, device: str, dtype: torch.dtype, share: bool):
    """(vitascope model, diffusers model) with identical weights, built without a full-size CPU copy.

    Both are built on the meta device, the vitascope one materialised on `device` in `dtype` and filled with
    seeded random weights. With `share` the diffusers model's parameters are *views* of those tensors
    (assign=True), so a 13B pair needs one copy of the weights; otherwise it gets its own copy.
    """
    from diffusers import HunyuanVideoTransformer3DModel

    from vitascope.convert.diffusers_dit import config_to_diffusers, tencent_to_diffusers

    with torch.device("meta"):
        ours = HunyuanVideoDiT(cfg).to(dtype)
        ref = HunyuanVideoTransformer3DModel(
            **{k: v for k, v in config_to_diffusers(cfg).items() if k != "_class_name"}
        )
    ours = ours.to_empty(device=device)
    init_weights(ours, seed=0)
    state = tencent_to_diffusers(ours.state_dict())
    if not share:
        state = {k: v.clone() for k, v in state.items()}
    ref = ref.to(dtype)
    ref.load_state_dict(state, strict=True, assign=True)
    if list(ref.buffers()):
        raise RuntimeError("diffusers' transformer grew buffers; build it on the device instead of meta")
    return ours.eval(), ref.eval()


def make_inputs(case: Case, device: str, dtype: torch.dtype, batch: int = 1):
    cfg = case.config
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, *case.latent, generator=g)
    states = torch.randn(batch, case.text_tokens, cfg.text_states_dim, generator=g)
    mask = torch.zeros(batch, case.text_tokens, dtype=torch.long)
    mask[:, : case.text_valid] = 1  # padding at the end, as the tokenizer pads
    pooled = torch.randn(batch, cfg.text_states_dim_2, generator=g)
    t = torch.full((batch,), 937.5)
    guidance = torch.full((batch,), 6000.0)
    cast = dict(device=device, dtype=dtype)
    return (
        x.to(**cast),
        t.to(device),  # float32 as the pipelines pass it (bf16 would round 937.5 to 936)
        states.to(**cast),
        mask.to(device),
        pooled.to(**cast),
        guidance.to(**cast),
    )


def run_case(
    case: Case, device: str, dtype: torch.dtype, warmup: int, repeat: int, share: bool, profile: bool
):
    ours, ref = build_pair(case.config, device, dtype, share)
    x, t, states, mask, pooled, guidance = make_inputs(case, device, dtype)
    v = case.text_valid
    with torch.no_grad():
        a = ours(x, t, states, mask, pooled, guidance)
        b = ref(x, t, states, mask, pooled, guidance, return_dict=False)[0]
        # What-if (not what vitascope does today): drop the padded text tokens instead of masking them. The
        # image output is the same up to rounding, since padded tokens are never attended to; attention then
        # needs no mask, which lets CUDA use its flash kernels.
        c = ours(x, t, states[:, :v], mask[:, :v], pooled, guidance)
        err = (a.float() - b.float()).abs().max().item()
        err_trim = (c.float() - a.float()).abs().max().item()
        scale = b.float().abs().max().item()
        timings = interleaved(
            {
                "vitascope": lambda: ours(x, t, states, mask, pooled, guidance),
                "diffusers": lambda: ref(x, t, states, mask, pooled, guidance, return_dict=False),
                "trimmed": lambda: ours(x, t, states[:, :v], mask[:, :v], pooled, guidance),
            },
            warmup=warmup,
            repeat=repeat,
            device=device,
            inner=case.inner,
        )
    ours_t, ref_t, trim_t = timings["vitascope"], timings["diffusers"], timings["trimmed"]
    print(ratio_line(case.name, ours_t, ref_t))
    flops = dit_flops(case.config, case.latent[1:], case.text_tokens)
    print(
        f"{'':<28} max|vitascope - diffusers| {err:.2e} (output max {scale:.2f}); "
        f"{flops['total'] / 1e9:.2f} GFLOP/step ({100 * flops['attention'] / flops['total']:.0f}% attention), "
        f"vitascope {flops['total'] / ours_t.median / 1e12:.3f} TFLOP/s, "
        f"diffusers {flops['total'] / ref_t.median / 1e12:.3f} TFLOP/s"
    )
    print(
        f"{'':<28} what-if, padded text dropped ({v} of {case.text_tokens} tokens kept, no mask): "
        f"{trim_t.median:.4f} s/step, {ours_t.median / trim_t.median:.2f}x vs vitascope padded; "
        f"max|trimmed - padded| {err_trim:.2e}"
    )
    if torch.device(device).type == "cuda":
        print(
            f"{'':<28} peak CUDA memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB (both models, weights shared)"
        )
    if profile:
        with torch.no_grad():
            profile_pair(ours, ref, (x, t, states, mask, pooled, guidance))


def profile_pair(ours, ref, args, rows: int = 12) -> None:
    """Top operators by self time for one forward of each model (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args[0].is_cuda else [])
    key = "self_device_time_total" if args[0].is_cuda else "self_cpu_time_total"
    for name, fn in (
        ("vitascope", lambda: ours(*args)),
        ("diffusers", lambda: ref(*args, return_dict=False)),
    ):
        fn()
        with profile(activities=acts) as prof:
            fn()
        print(f"--- profile: {name} ---")
        print(prof.key_averages().table(sort_by=key, row_limit=rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per model (default 7 CPU, 2 GPU)")
    ap.add_argument("--gpu", action="store_true", help="full-size 13B config on CUDA in bf16")
    ap.add_argument(
        "--gpu-path-on-cpu", action="store_true", help="the --gpu code path at medium size on CPU"
    )
    ap.add_argument("--profile", action="store_true", help="print torch.profiler top ops for each model")
    ap.add_argument(
        "--gpu-shapes",
        default="544,720",
        help="with --gpu: which of 544 (544x960x129) and 720 (720x1280x129)",
    )
    args = ap.parse_args()
    quiet_diffusers()
    threads = set_threads(args.threads)
    print(f"torch {torch.__version__}, diffusers {_diffusers_version()}, threads {threads}")
    if args.gpu:
        if not torch.cuda.is_available():
            print("--gpu: no CUDA device visible, skipping the full-size benchmark")
            return
        torch.backends.cuda.matmul.allow_tf32 = True
        print(f"device {torch.cuda.get_device_name()}, bf16, weights shared between the two models")
        wanted = args.gpu_shapes.split(",")
        for case in [c for c in GPU_CASES if any(f" {w}x" in c.name for w in wanted)]:
            run_case(
                case, "cuda", torch.bfloat16, args.warmup, args.repeat or 2, share=True, profile=args.profile
            )
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        return
    if args.gpu_path_on_cpu:
        print("CPU, bf16, weights shared (a check of the --gpu path; CPU bf16 timings mean little)")
        case = dataclasses.replace(CPU_CASES[1], name="medium bf16 (shared)")
        run_case(case, "cpu", torch.bfloat16, args.warmup, args.repeat or 3, share=True, profile=args.profile)
        return
    print("CPU, float32, batch 1, no grad")
    for case in CPU_CASES:
        run_case(case, "cpu", torch.float32, args.warmup, args.repeat or 7, share=False, profile=args.profile)


def _diffusers_version() -> str:
    import diffusers

    return diffusers.__version__


if __name__ == "__main__":
    main()
