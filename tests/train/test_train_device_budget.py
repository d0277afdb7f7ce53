"""How a run is executed, not what it learns: the device, a wall-clock budget, VAE clip prefetching in worker
processes, and the demo VAE's MSE-only objective. None of these may change the samples or the maths."""

from __future__ import annotations

import pytest
import torch

from vitascope.errors import InvalidOptionError
from vitascope.models.vae import CausalVAE3D, VAEConfig
from vitascope.train.buckets import Bucket
from vitascope.train.checkpoint import latest_checkpoint
from vitascope.train.loop import resolve_device, train
from vitascope.train.loss import vae_reconstruction_loss
from vitascope.train.recipes import Stage, demo_vae, get_recipe


def _tiny(**kw):
    return get_recipe("tiny")[0].replace(**kw)


def _tiny_vae(**kw):
    base = demo_vae().replace(
        vae=VAEConfig.tiny(),
        stages=(Stage("s", 3, (Bucket(1, 32, 32, 2), Bucket(5, 32, 32, 2))),),
        checkpoint_every=100,
        log_every=1,
    )
    return base.replace(**kw)


def test_a_time_budget_stops_checkpoints_exports_and_resumes_exactly(tmp_path):
    r = _tiny(checkpoint_every=100)
    straight = train(r, tmp_path / "a", max_steps=5, resume=False).losses
    # A budget of 0 s stops after the first step, with a checkpoint and an export as at the end.
    cut = train(r, tmp_path / "b", max_steps=5, resume=False, max_seconds=0.0)
    assert cut.step == 1 and latest_checkpoint(tmp_path / "b").name == "step_000001"
    assert (tmp_path / "b" / "export" / "transformer" / "model.safetensors").exists()
    rest = train(r, tmp_path / "b", max_steps=5, resume=True)
    assert cut.losses + rest.losses == straight  # the truncated recipe continues exactly


def test_prefetching_clips_in_worker_processes_gives_the_same_losses(tmp_path):
    r = _tiny_vae()
    plain = train(r, tmp_path / "plain", resume=False, export=False).losses
    ahead = train(r, tmp_path / "ahead", resume=False, export=False, data_workers=2).losses
    assert plain == ahead


def test_device_names_are_checked():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InvalidOptionError, match="use auto, cpu or cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidOptionError, match="no CUDA device"):
            resolve_device("cuda")


def test_mse_only_vae_objective_drops_the_l1_term():
    torch.manual_seed(0)
    vae = CausalVAE3D(VAEConfig.tiny())
    video = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    noise = torch.zeros(2, vae.config.latent_channels, 2, 2, 2)
    paper, recon, parts = vae_reconstruction_loss(vae, video, 1e-6, noise, mse_weight=1.0)
    mse_only, _, _ = vae_reconstruction_loss(vae, video, 1e-6, noise, mse_weight=1.0, l1_weight=0.0)
    l1 = (recon - video).abs().flatten(1).mean(dim=1)
    torch.testing.assert_close(paper - mse_only, l1)
    assert demo_vae().vae_options.l1_weight == 0.0  # the demo's recorded choice (see recipes.demo_vae)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_gpu_run_follows_the_cpu_run(tmp_path):
    # Same samples (drawn on the CPU) and the same init: the GPU losses track the CPU ones closely.
    r = _tiny(stages=(Stage("one", 4, (Bucket(5, 32, 32, 4),)),), checkpoint_every=100)
    cpu = train(r, tmp_path / "cpu", resume=False, export=False, device="cpu").losses
    gpu = train(r, tmp_path / "gpu", resume=False, export=False, device="cuda").losses
    assert torch.allclose(torch.tensor(cpu), torch.tensor(gpu), rtol=1e-2, atol=1e-3), (cpu, gpu)


def test_train_command_takes_device_and_budget_and_a_random_data_dit_gets_a_stand_in_folder(tmp_path):
    from typer.testing import CliRunner

    from vitascope.cli import _register, app

    _register()
    out = tmp_path / "run"
    args = ["train", "--recipe", "tiny", "--device", "cpu", "--max-seconds", "0", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "stopped early at step 1 of 8" in result.output and "model folder:" in result.output
    assert (out / "export" / "transformer" / "model.safetensors").exists()
    # random latents: the folder's VAE and text encoders are seeded stand-ins (see train/export.py)
    assert (out / "model" / "vae" / "config.json").exists() and (out / "model" / "text_encoder_2").is_dir()
    bad = CliRunner().invoke(app, ["train", "--recipe", "tiny", "--device", "tpu", "--out", str(out)])
    assert bad.exit_code != 0 and "use auto, cpu or cuda" in (bad.output + str(bad.exception))
