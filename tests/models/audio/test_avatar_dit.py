"""The Avatar DiT: parity with the official forward at full width (seeded weights), the release's key set."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vitascope.models.audio.avatar_dit import AvatarDiT, avatar_config
from vitascope.models.audio.seeded import seeded_state_dict

GOLDEN = Path(__file__).parents[2] / "golden" / "avatar"


def _extra(g):
    keys = ("ref_latents", "face_mask", "motion_exp", "motion_pose", "fps")
    return {k: g[k] for k in keys} | {"audio": g["audio_prompts"]}


@pytest.mark.slow
@torch.no_grad()
def test_forward_matches_official():
    """3072 wide, 2 double + 1 single block (~1.3B parameters, fp32): adapter 0 runs after double block 1."""
    path = GOLDEN / "dit_forward.safetensors"
    g = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    cfg = avatar_config(
        mm_double_blocks_depth=int(meta["double"]),
        mm_single_blocks_depth=int(meta["single"]),
        text_states_dim=int(meta["text_dim"]),
        text_states_dim_2=int(meta["text_dim_2"]),
    )
    with torch.device("meta"):
        model = AvatarDiT(cfg)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    model.load_state_dict(seeded_state_dict(shapes, int(meta["seed"])), strict=True, assign=True)
    model.eval()
    got = model(g["x"], g["t"], g["text_states"], g["text_mask"], g["text_states_2"], **_extra(g))
    err = (got - g["output"]).abs().max().item()
    assert got.shape == g["output"].shape == (2, 16, 2, 4, 4)
    assert err <= 1e-4, f"max abs err {err} (output scale {g['output'].abs().max().item():.3g})"


def test_release_key_set_loads_strictly():
    """keys.json: every key and shape of the released 13B model, written by the official classes."""
    ref = json.loads((GOLDEN / "keys.json").read_text())["keys"]
    with torch.device("meta"):
        model = AvatarDiT(avatar_config())
    sd = {k: torch.empty(shape, device="meta") for k, shape in ref.items()}
    assert len(sd) == 946 and not any(k.startswith("guidance_in") for k in sd)
    model.load_state_dict(sd, strict=True, assign=True)
    with pytest.raises(RuntimeError, match="audio_adapter_blocks.9.to_out.weight"):
        model.load_state_dict({k: v for k, v in sd.items() if k != "audio_adapter_blocks.9.to_out.weight"})


def _tiny(seed=0, single=1):
    cfg = avatar_config(
        hidden_size=64, heads_num=2, rope_dim_list=(8, 12, 12), mm_double_blocks_depth=2,
        mm_single_blocks_depth=single, text_states_dim=16, text_states_dim_2=8,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = AvatarDiT(cfg, audio_channels=4, adapter_dim_head=32, audio_hidden=32).eval()
    for p in model.parameters():
        p.data.normal_(0, 0.2)
    return model


def _tiny_inputs(B=1, T=2, H=4, W=6):
    g = torch.Generator().manual_seed(3)
    return dict(
        x=torch.randn(B, 16, T, H, W, generator=g),
        t=torch.full((B,), 500.0),
        text_states=torch.randn(B, 3, 16, generator=g),
        text_mask=torch.ones(B, 3, dtype=torch.long),
        text_states_2=torch.randn(B, 8, generator=g),
        ref_latents=torch.randn(B, 16, T, H, W, generator=g),
        audio=torch.randn(B, 4 * T - 3, 10, 5, 4, generator=g),
        face_mask=torch.ones(B, 1, 1, H, W),
        motion_exp=torch.full((B, 4), 30.0),
        motion_pose=torch.full((B, 4), 25.0),
        fps=torch.full((B,), 25.0),
    )


@torch.no_grad()
def test_audio_reaches_only_the_face():
    model, inp = _tiny(), _tiny_inputs()
    quiet = inp | {"audio": torch.zeros_like(inp["audio"])}
    assert not torch.allclose(model(**inp), model(**quiet), atol=1e-5)  # audio matters where the mask is 1
    for d in (inp, quiet):
        d["face_mask"] = torch.zeros_like(d["face_mask"])
    torch.testing.assert_close(model(**inp), model(**quiet))  # and nowhere else


@torch.no_grad()
def test_reference_frame_is_dropped_and_inputs_checked():
    model, inp = _tiny(), _tiny_inputs(B=2)
    assert model(**inp).shape == (2, 16, 2, 4, 6)
    with pytest.raises(ValueError, match="5 audio frames"):
        model(**(inp | {"audio": inp["audio"][:, :4]}))
    with pytest.raises(ValueError, match="face_mask"):
        model(**{k: v for k, v in inp.items() if k != "face_mask"})


@torch.no_grad()
def test_deepcache_reuses_the_last_single_block_input():
    """Cached steps run only the last single block, on the input kept at the last full step (reference,
    per-frame video and text tokens reassembled for the window); unchanged latents give the full result."""
    from vitascope.flow.avatar import avatar_timeline, avatar_windows
    from vitascope.flow.sampler import StepInfo
    from vitascope.models.audio.deepcache import AvatarDeepCache
    from vitascope.models.dit.context import DiTInputs

    model = _tiny(single=2)
    inp = _tiny_inputs(T=33, H=2, W=4)
    extra = {k: inp[k] for k in ("ref_latents", "audio", "face_mask", "motion_exp", "motion_pose", "fps")}
    inputs = DiTInputs(
        inp["text_states"], inp["text_mask"], inp["text_states_2"], text_padded=False, extra=extra
    )
    calls = []
    for i, blk in enumerate(model.single_blocks):
        blk.register_forward_hook(lambda m, a, o, i=i: calls.append(i))
    t = torch.tensor([500.0])

    def step(cache, tl, x, i, t=t):
        info = StepInfo(i, 50, 0.5, 0.48)
        wins = avatar_windows(tl)(info, tl.latent_frames)
        return [
            cache(x[:, :, w], t, inputs, dataclasses.replace(info, window=tuple(w)), "cond") for w in wins
        ]

    one = avatar_timeline(129)  # a single window: the cached step sees exactly what the full step kept
    cache = AvatarDeepCache(model, one.latent_frames)
    full = step(cache, one, inp["x"], 15)
    calls.clear()
    cached = step(cache, one, inp["x"], 16)
    assert calls == [1] and cache.cached_calls == 1  # only the last single block ran
    torch.testing.assert_close(cached[0], full[0])
    # the latents reach a cached step only through the cache (as the release); the timestep still does
    assert torch.equal(step(cache, one, inp["x"] + 1.0, 17)[0], cached[0])
    assert not torch.allclose(step(cache, one, inp["x"], 17, torch.tensor([300.0]))[0], full[0])
    torch.testing.assert_close(step(cache, one, inp["x"], 20)[0], full[0])  # ... and step 20 is full again

    three = avatar_timeline(305)  # three windows: every frame's tokens come from the full step's windows
    x = torch.randn(1, 16, three.latent_frames, 2, 4, generator=torch.Generator().manual_seed(5))
    cache = AvatarDeepCache(model, three.latent_frames)
    step(cache, three, x, 15)
    calls.clear()
    out = step(cache, three, x, 16)
    assert calls == [1, 1, 1] and [o.shape for o in out] == [(1, 16, 33, 2, 4)] * 3
    off = AvatarDeepCache(model, three.latent_frames, enabled=False)
    plain = step(off, three, x, 16)
    assert off.full_calls == 3 and not off.store
    first = avatar_windows(three)(StepInfo(16, 50, 0.5, 0.48), three.latent_frames)[0]
    torch.testing.assert_close(plain[0], model.run(x[:, :, first], t, inputs))
    with pytest.raises(ValueError, match="windowed_predict"):
        off(x[:, :, first], t, inputs, StepInfo(16, 50, 0.5, 0.48), "cond")
