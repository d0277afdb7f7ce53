"""Training objectives: flow matching for the DiT, and the paper's VAE loss (L1 + KL + adversarial + LPIPS).

The flow path itself (x_t and the velocity target) lives in `vitascope.flow.path`, shared with the sampler.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from vitascope.flow import interpolate, velocity_target

log = logging.getLogger(__name__)


def flow_matching_loss(
    model: nn.Module,
    x0: torch.Tensor,
    noise: torch.Tensor,
    t: torch.Tensor,
    text_states: torch.Tensor,
    text_mask: torch.Tensor,
    text_states_2: torch.Tensor,
    guidance: torch.Tensor | None = None,
    first_frame_clean: bool = False,
    **extra,
) -> torch.Tensor:
    """Per-sample MSE between the predicted and the target velocity, [B].

    x0, noise: [B, C, T, H, W] scaled latents and Gaussian noise; t: [B] in (0, 1).
    first_frame_clean: I2V by token replace. Latent frame 0 is the clean image latent at every t (as the
    sampler will give it), the DiT modulates its tokens with the t=0 vector, and frame 0 is left out of the
    loss (there is nothing to predict there).
    extra: a variant's inputs (`DiTInputs.extra`, e.g. pose_latents [B, C, T, H, W]).
    """
    xt = interpolate(x0, noise, t)  # [B, C, T, H, W]
    target = velocity_target(x0, noise)
    if first_frame_clean:
        xt = torch.cat([x0[:, :, :1], xt[:, :, 1:]], dim=2)
    pred = model(
        xt,
        t * 1000.0,
        text_states,
        text_mask,
        text_states_2,
        guidance=guidance,
        token_replace=first_frame_clean,
        **extra,
    )
    err = (pred.float() - target.float()) ** 2
    if first_frame_clean:
        err = err[:, :, 1:]
    return err.flatten(1).mean(dim=1)


# -- VAE ----------------------------------------------------------------------------------------------


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, var) || N(0, 1)) summed over latent elements, [B]."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(dim=1)


class PatchDiscriminator(nn.Module):
    """A small PatchGAN over frames (each frame judged alone; [B, 3, F, H, W] -> patch logits)."""

    def __init__(self, channels: int = 32, layers: int = 3):
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(3, channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = channels
        for _ in range(layers - 1):
            mods += [nn.Conv2d(c, 2 * c, 4, 2, 1), nn.GroupNorm(8, 2 * c), nn.LeakyReLU(0.2)]
            c *= 2
        mods.append(nn.Conv2d(c, 1, 3, 1, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        b, c, f, h, w = video.shape
        frames = video.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
        return self.net(frames)


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return 0.5 * (F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean())


def generator_adv_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


def load_lpips() -> nn.Module | None:
    """LPIPS (VGG) when the `lpips` package and its VGG weights are already on this machine; else None.

    Nothing is downloaded: the paper's 0.1 LPIPS term is simply left out when the weights are absent.
    """
    try:
        import lpips  # noqa: F401
        from torch.hub import get_dir
    except ImportError:
        log.info("LPIPS not installed: training the VAE without the perceptual term")
        return None
    from pathlib import Path

    if not any(Path(get_dir(), "checkpoints").glob("vgg16-*.pth")):
        log.info("LPIPS VGG weights not in the torch hub cache: training the VAE without the perceptual term")
        return None
    import lpips

    return lpips.LPIPS(net="vgg", verbose=False).eval().requires_grad_(False)


def vae_reconstruction_loss(
    vae: nn.Module,
    video: torch.Tensor,
    kl_weight: float,
    noise: torch.Tensor,
    lpips_model: nn.Module | None = None,
    lpips_weight: float = 0.0,
    mse_weight: float = 0.0,
    l1_weight: float = 1.0,
    weight: torch.Tensor | None = None,
    anchor: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """video [B, 3, F, H, W] in [-1, 1] -> (loss [B] without the adversarial term, reconstruction, parts).

    weight: optional per-pixel weight [B, 1, F, H, W] of the L1 and MSE terms (None: uniform).
    anchor: optional (target mean [B, C, T, h, w], per-sample weight [B]): adds weight * MSE between the
    posterior mean and the target (a frozen reference encoder's mean: VAEOptions.anchor_weight), and on the
    samples with a weight the reconstruction terms again for the target decoded: the latents a DiT trained
    on the reference encoder produces must decode to the clip too, not only this encoder's (nearby) ones.

    noise: [B, C, T, h, w] standard normal for the posterior sample (drawn by the caller per sample, so the
    run does not depend on how the batch is split over processes)."""
    mean, logvar = vae.encode_moments(video)
    z = mean + torch.exp(0.5 * logvar) * noise.to(mean)
    recon = vae.decode(z)

    def per_sample(err: torch.Tensor) -> torch.Tensor:  # [B] (weighted) mean
        return (err if weight is None else err * weight.to(err)).flatten(1).mean(dim=1)

    l1 = per_sample((recon - video).abs())
    kl = kl_divergence(mean, logvar)
    loss = l1_weight * l1 + kl_weight * kl
    parts = {"l1": l1.detach().mean(), "kl": kl.detach().mean()}
    if anchor is not None:
        target, w = anchor
        drift = (mean - target.to(mean)).pow(2).flatten(1).mean(dim=1)  # [B]
        loss = loss + w.to(drift) * drift
        on = (w > 0).to(drift)
        parts["anchor"] = (drift.detach() * on).sum() / on.sum().clamp(min=1)  # on anchored samples only
        parts["anchor_recon"] = torch.zeros((), device=drift.device)
        if bool(on.any()):
            ref = vae.decode(target.to(mean))
            ref_err = l1_weight * per_sample((ref - video).abs())
            if mse_weight > 0:
                ref_err = ref_err + mse_weight * per_sample((ref - video).pow(2))
            loss = loss + on * ref_err
            parts["anchor_recon"] = (ref_err.detach() * on).sum() / on.sum()
    if mse_weight > 0:
        mse = per_sample((recon - video).pow(2))
        loss = loss + mse_weight * mse
        parts["mse"] = mse.detach().mean()
    if lpips_model is not None and lpips_weight > 0:
        b, c, f, h, w = video.shape
        flat = lambda v: v.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)  # noqa: E731
        lp = lpips_model(flat(recon), flat(video)).view(b, f).mean(dim=1)
        loss = loss + lpips_weight * lp
        parts["lpips"] = lp.detach().mean()
    return loss, recon, parts
