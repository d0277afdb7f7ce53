"""The pose-conditioned DiT variant: zero-initialised it is the base model; its keys load strictly through the
loader; a trained (nonzero) pose branch changes the output; skeleton frames reach it as VAE latents."""

import numpy as np
import pytest
import torch

from _helpers import reseed_parameters
from vitascope.errors import WeightLoadError
from vitascope.models.dit import HunyuanVideoDiT
from vitascope.models.dit.context import DiTInputs
from vitascope.models.pose import POSE_KEYS, PoseDiT, dit_class_for_state, encode_pose_video
from vitascope.models.vae import CausalVAE3D, VAEConfig
from vitascope.specs import TINY
from vitascope.synthetic.figures import draw_skeleton, motion_keypoints, sample_figure, template


def _inputs(seed=0, **extra):
    g = torch.Generator().manual_seed(seed)
    text = torch.randn(1, 6, TINY.text_states_dim, generator=g)
    pooled = torch.randn(1, TINY.text_states_dim_2, generator=g)
    return DiTInputs(
        text, torch.ones(1, 6, dtype=torch.long), pooled, guidance=torch.tensor([4000.0]), extra=extra
    )


def _x(T=2, h=4, w=4, seed=1):
    return torch.randn(1, TINY.in_channels, T, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def base():
    dit = HunyuanVideoDiT(TINY).eval()
    reseed_parameters(dit, 3)
    return dit


@torch.no_grad()
def test_zero_init_equals_base(base):
    pose_dit = PoseDiT.from_base(base).eval()
    assert torch.count_nonzero(pose_dit.pose_proj.weight) == 0
    x, t = _x(), torch.tensor([500.0])
    pose = torch.randn_like(x)
    ref = base.run(x, t, _inputs())
    torch.testing.assert_close(pose_dit.run(x, t, _inputs(pose_latents=pose)), ref, rtol=0, atol=0)
    torch.testing.assert_close(pose_dit.run(x, t, _inputs()), ref, rtol=0, atol=0)  # no pose: the base


@torch.no_grad()
def test_pose_changes_output_after_nonzero_init(base):
    pose_dit = PoseDiT.from_base(base).eval()
    torch.nn.init.normal_(pose_dit.pose_proj.weight, std=0.05)
    x, t = _x(), torch.tensor([500.0])
    a = pose_dit.run(x, t, _inputs(pose_latents=torch.randn_like(x)))
    b = pose_dit.run(x, t, _inputs(pose_latents=torch.randn_like(x)))
    assert (a - b).abs().max() > 1e-3 and (a - base.run(x, t, _inputs())).abs().max() > 1e-3
    with pytest.raises(ValueError, match="tokens"):
        pose_dit.run(x, t, _inputs(pose_latents=torch.randn(1, 16, 1, 4, 4)))


def test_keys_load_strictly_through_the_loader(base, tmp_path):
    from vitascope.convert.folder import detect_folder
    from vitascope.io.files import save_safetensors_atomic
    from vitascope.io.weights import read_state_dict
    from vitascope.pipelines.loader import load_dit
    from vitascope.pipelines.tiny import write_tiny_model

    folder = write_tiny_model(tmp_path / "m")
    plain = load_dit(detect_folder(folder), "cpu", torch.float32)
    assert type(plain) is HunyuanVideoDiT
    pose_dit = PoseDiT.from_base(plain)
    reseed_parameters(pose_dit.pose_proj, 9)
    path = folder / "transformer" / "model.safetensors"
    save_safetensors_atomic(path, {k: v.contiguous() for k, v in pose_dit.state_dict().items()})
    state = read_state_dict(path)
    assert set(POSE_KEYS) <= set(state) and dit_class_for_state(state) is PoseDiT
    loaded = load_dit(detect_folder(folder), "cpu", torch.float32)
    assert type(loaded) is PoseDiT
    for k, v in pose_dit.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v, rtol=0, atol=0)
    # half a pose checkpoint is an error that names the keys
    partial = {k: v for k, v in state.items() if k != "pose_proj.bias"}
    with pytest.raises(WeightLoadError, match="pose_proj.bias"):
        dit_class_for_state(partial)
    save_safetensors_atomic(path, {k: v.contiguous() for k, v in partial.items()})
    with pytest.raises(WeightLoadError, match="pose_proj.bias"):
        load_dit(detect_folder(folder), "cpu", torch.float32)


@torch.no_grad()
def test_skeleton_frames_to_vae_latents_to_pose_tokens(base):
    figure = sample_figure(0)
    kp = motion_keypoints(template("wave", 5), figure, height=24, size=(32, 32))  # [5, 17, 2]
    skeleton = draw_skeleton(kp, (32, 32))  # uint8 [5, 32, 32, 3]
    assert skeleton.shape == (5, 32, 32, 3) and skeleton.max() > 0
    vae = CausalVAE3D(VAEConfig.tiny()).eval()
    reseed_parameters(vae, 1)
    lat = encode_pose_video(vae, skeleton)
    assert lat.shape == (1, 16, 2, 4, 4) and torch.isfinite(lat).all()
    pose_dit = PoseDiT.from_base(base).eval()
    torch.nn.init.normal_(pose_dit.pose_proj.weight, std=0.05)
    x, t = _x(), torch.tensor([500.0])
    still = encode_pose_video(vae, np.repeat(skeleton[:1], 5, axis=0))
    moving = pose_dit.run(x, t, _inputs(pose_latents=lat))
    assert (moving - pose_dit.run(x, t, _inputs(pose_latents=still))).abs().max() > 1e-4
    with pytest.raises(ValueError, match="skeleton frames"):
        encode_pose_video(vae, skeleton[..., 0])
