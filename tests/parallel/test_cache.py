"""Step caches on the tiny random DiT: DiT call counts per policy, and threshold 0 equals no cache exactly."""

import pytest
import torch

from _helpers import reseed_parameters
from vitascope.errors import InvalidOptionError
from vitascope.models.dit import HunyuanVideoDiT
from vitascope.models.dit.sampling import TextCondition, sample_dit
from vitascope.parallel.cache import StepCache, deepcache_full
from vitascope.specs import TINY


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    dit = HunyuanVideoDiT(TINY).eval()
    reseed_parameters(dit, 3)
    g = torch.Generator().manual_seed(1)
    cond = TextCondition(
        torch.randn(1, 5, 24, generator=g), torch.ones(1, 5), torch.randn(1, 20, generator=g)
    )
    neg = TextCondition(torch.randn(1, 5, 24, generator=g), torch.ones(1, 5), torch.randn(1, 20, generator=g))
    noise = torch.randn(1, 16, 3, 8, 8, generator=g)
    return dit, cond, neg, noise


@pytest.fixture(scope="module")
def ref(setup):
    return _sample(setup, None)


def _sample(setup, cache: StepCache | None, steps=8):
    dit, cond, neg, noise = setup
    if cache is not None:
        cache.install(dit)
    try:
        with torch.no_grad():
            return sample_dit(
                dit,
                noise,
                cond,
                neg,
                steps=steps,
                shift=3.0,
                guidance=4.0,
                cfg_scale=3.0,
                dtype=torch.float32,
                wrap_predict=cache.wrap if cache else None,
            )
    finally:
        if cache is not None:
            cache.remove()


@pytest.mark.parametrize("spec", ["teacache:0", "fbcache:0", "deepcache:1"])
def test_threshold_zero_is_the_uncached_output_exactly(setup, ref, spec):
    cache = StepCache.parse(spec)
    out = _sample(setup, cache)
    assert torch.equal(out, ref)
    assert cache.stats == {"full": 16, "cached": 0}  # 8 steps x 2 branches
    assert "run_blocks" not in vars(setup[0])  # removed cleanly


def test_call_counts_per_policy(setup, ref):
    # a huge threshold: teacache runs the first and the last step in full, per branch
    tea = StepCache.parse("teacache:1e9")
    out = _sample(setup, tea)
    assert tea.stats == {"full": 4, "cached": 12}
    assert not torch.equal(out, ref)
    fb = StepCache.parse("fbcache:1e9")  # only the first step in full
    _sample(setup, fb)
    assert fb.stats == {"full": 2, "cached": 14}
    # deepcache interval 3 at 8 steps: full before round(2.4) = 2, at 2 and 5 (every 3rd), from round(6.4) on
    assert [i for i in range(8) if deepcache_full(i, 8, 3)] == [0, 1, 2, 5, 6, 7]
    deep = StepCache.parse("deepcache:3")
    _sample(setup, deep)
    assert deep.stats == {"full": 12, "cached": 4}


def test_avatar_schedule_and_bad_specs():
    assert sum(deepcache_full(i, 50, 5) for i in range(50)) == 30  # the Avatar's 30 of 50
    for bad in ("warpcache", "teacache:x", "fbcache:-1"):
        with pytest.raises(InvalidOptionError):
            StepCache.parse(bad)
