"""First-block cache: vitascope's `--cache fbcache:T` against diffusers' FirstBlockCache, in one run.

The bundled demo model's DiT is converted to diffusers' `HunyuanVideoTransformer3DModel` (same weights,
`convert.diffusers_dit`), and both run the same sampler (`flow.sampler.denoise`: the demo's 20 steps,
shift 2, true CFG 4, so 40 DiT calls) on the same text conditions and noise. diffusers' cache is its own
(`enable_cache(FirstBlockCacheConfig(threshold))`, one `cache_context` per guidance branch); ours is
`parallel.cache.StepCache`. For each threshold: full DiT calls (diffusers': calls that reached its last
block), seconds of sampling (interleaved, median of --repeat), PSNR of the decoded frames against the same
model's uncached frames, and the time ratio diffusers / vitascope (> 1: vitascope faster).

    PYTHONPATH=src python3 benchmarks/bench_fbcache_diffusers.py [--threads 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import quiet_diffusers, set_threads, setup_paths  # noqa: E402

setup_paths()

PROMPT = "a red circle moving right on a black background"
THRESHOLDS = (0.05, 0.1, 0.2, 0.3)


def diffusers_twin(dit):
    from diffusers import HunyuanVideoTransformer3DModel

    from vitascope.convert.diffusers_dit import config_to_diffusers, tencent_to_diffusers

    cfg = {k: v for k, v in config_to_diffusers(dit.config).items() if k != "_class_name"}
    # T2V: diffusers applies token replace whenever the config names it; vitascope only for I2V inputs
    cfg["image_condition_type"] = None
    ref = HunyuanVideoTransformer3DModel(**cfg)
    ref.load_state_dict(tencent_to_diffusers(dit.state_dict()), strict=True)
    return ref.eval()


def sampler(pipe, predict_for):
    """A function cache -> (latents, full calls): the demo's sampler around `predict_for(cache)`."""
    from vitascope.flow import shifted_sigmas
    from vitascope.flow.sampler import constant_guidance, denoise
    from vitascope.pipelines.options import GenerationOptions

    o = pipe.resolve(GenerationOptions(PROMPT, seed=0))[0]
    noise = pipe.initial_noise(o, pipe.dit.config.out_channels)
    sigmas = shifted_sigmas(o.steps, o.flow_shift)

    @torch.no_grad()
    def run(threshold):
        predict, calls = predict_for(threshold)
        return denoise(noise, sigmas, predict, constant_guidance(o.cfg_scale)), calls

    return run


def ours(pipe, cond, uncond):
    from vitascope.models.dit.sampling import dit_predict
    from vitascope.parallel.cache import StepCache

    kw = {"token_replace": False}  # T2V (the demo's config names token replace for I2V)
    branches = {"cond": cond.to_inputs(**kw), "negative": uncond.to_inputs(**kw)}

    def predict_for(threshold):
        cache = StepCache.parse(f"fbcache:{threshold}" if threshold else None).install(pipe.dit)
        return cache.wrap(dit_predict(pipe.dit, branches, dtype=torch.float32)), cache.stats

    return sampler(pipe, predict_for)


def theirs(pipe, ref, cond, uncond):
    from diffusers.hooks import FirstBlockCacheConfig

    texts = {"cond": cond, "negative": uncond}
    # the cache's hooks stand in for a skipped block's forward, so count a module inside the last block
    last = (ref.single_transformer_blocks or ref.transformer_blocks)[-1].attn
    calls = {"full": 0}
    last.register_forward_hook(lambda *a: calls.__setitem__("full", calls["full"] + 1))

    def predict_for(threshold):
        if ref.is_cache_enabled:
            ref.disable_cache()
        if threshold:
            ref.enable_cache(FirstBlockCacheConfig(threshold=threshold))
        calls["full"] = 0

        def predict(x, t, branch, step):
            c = texts[branch]
            with ref.cache_context(branch):
                return ref(x, t, c.states, c.mask, c.pooled, None, return_dict=False)[0]

        return predict, calls

    return sampler(pipe, predict_for)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def timed(fn, threshold, repeat):
    secs, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(threshold)
        secs.append(time.perf_counter() - t)
    lat, calls = out
    return lat, int(calls["full"]), statistics.median(secs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--thresholds", default=",".join(map(str, THRESHOLDS)))
    args = ap.parse_args()
    set_threads(args.threads)
    quiet_diffusers()
    from vitascope.pipelines.loader import load_pipeline

    pipe = load_pipeline(None, device="cpu")
    ref = diffusers_twin(pipe.dit)
    cond, uncond = pipe.encode_prompt([PROMPT]), pipe.encode_prompt([""])
    runs = {"vitascope": ours(pipe, cond, uncond), "diffusers": theirs(pipe, ref, cond, uncond)}
    base = {}
    print(
        f"{'threshold':>9} | {'contender':>9} | full calls | seconds | PSNR vs own uncached | diffusers/vitascope"
    )
    for thr in (0.0, *(float(v) for v in args.thresholds.split(","))):
        row = {}
        for name, fn in runs.items():  # interleaved per threshold, so drift hits both alike
            lat, full, secs = timed(fn, thr, args.repeat)
            frames = pipe.decode(lat)
            if thr == 0.0:
                base[name] = (frames, lat)
            row[name] = (full, secs, psnr(frames, base[name][0]))
        for name, (full, secs, p) in row.items():
            ratio = row["diffusers"][1] / row["vitascope"][1]
            print(
                f"{thr:>9g} | {name:>9} | {full:>10d} | {secs:7.2f} | {p:>17.1f} dB | "
                + (f"{ratio:.2f}x" if name == "diffusers" else ""),
                flush=True,
            )
        if thr == 0.0:
            d = (base["vitascope"][1] - base["diffusers"][1]).abs().max().item()
            print(f"uncached latents, max|vitascope - diffusers| = {d:.2e}", flush=True)


if __name__ == "__main__":
    main()
