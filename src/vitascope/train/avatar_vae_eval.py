"""How much of a talking face survives a VAE round trip: the ceiling the Avatar DiT can reach through it.

A generated clip is a decode of latents, so a VAE that loses the skin colour or the mouth opening caps the
avatar eval's first-frame PSNR and lip sync whatever the DiT does. Here clips with known voices are encoded
and decoded (posterior mean, one piece) and measured with the same analyzer as `eval --task avatar`:

    rows = vae_face_roundtrip(load_vae(folder), clips=8, seed=0, size=64, seconds=2.0)
    summary = summarize_roundtrip(rows)       # psnr_first (mean, worst), mouth_corr, sync kept, ...

Cases (held out: seeds the training streams never draw):
  world   a talking-world clip, one face (what the avatar task trains on)
  drawn   an evaluator-style cartoon face (`synthetic.faces.cartoon`) whose mouth follows its voice's loudness
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch

from vitascope.synthetic.faces.avatar_eval import psnr

log = logging.getLogger(__name__)

FPS = 25.0
SR = 16000
# talking-world seeds from here on; training draws its seeds by hashing (step, sample), so a clash is a 1e-9 chance
WORLD_SEED0 = 3 * 10**6
KINDS = ("world", "drawn")


@dataclasses.dataclass
class RoundTripCase:
    """frames uint8 [F, H, W, 3] and the speaking face's voice [S] (16 kHz)."""

    name: str
    kind: str
    frames: np.ndarray
    voice: np.ndarray


def _frames_for(seconds: float) -> int:
    """4k + 1 frames (the causal VAE's lengths) covering `seconds` at 25 fps."""
    n = int(round(seconds * FPS))
    return 4 * max(1, (n - 1) // 4) + 1


def world_case(i: int, seed: int, size: int, seconds: float) -> RoundTripCase:
    from vitascope.train.avatar_data import face_clip

    voice = "singing" if i % 4 == 3 else "speech"
    clip = face_clip(
        WORLD_SEED0 + 1000 * seed + i, _frames_for(seconds), size, size, n_faces=1, audio=(voice,)
    )
    return RoundTripCase(f"{i:03d}-world-{voice}", "world", clip.frames, clip.tracks[0])


def drawn_case(i: int, seed: int, size: int, seconds: float) -> RoundTripCase:
    """One cartoon face whose mouth opens with its voice's loudness (leading the sound by one frame, as
    the world's mouths do)."""
    from vitascope.synthetic.faces.audio import loudness, make_track
    from vitascope.synthetic.faces.cartoon import draw_cartoon_video, sample_cartoon

    rng = np.random.default_rng([seed, 77, i])  # a stream of its own
    frames = _frames_for(seconds)
    voice_kind = "singing" if i % 4 == 3 else "speech"
    voice = make_track(voice_kind, int(rng.integers(2**31)), int(round(frames / FPS * SR)))
    faces, bg = sample_cartoon(int(rng.integers(2**31)), 1, size, size)
    env = loudness(voice, FPS, frames + 1)[1:]
    video = draw_cartoon_video(faces, bg, size, size, env[None])
    return RoundTripCase(f"{i:03d}-drawn-{voice_kind}", "drawn", video, voice)


def roundtrip_cases(clips: int, seed: int, size: int, seconds: float) -> list[RoundTripCase]:
    """`clips` cases alternating world and drawn."""
    makers = {"world": world_case, "drawn": drawn_case}
    return [makers[KINDS[i % 2]](i, seed, size, seconds) for i in range(clips)]


@torch.no_grad()
def vae_roundtrip(vae, frames: np.ndarray) -> np.ndarray:
    """uint8 [F, H, W, 3] -> encode (posterior mean) -> decode -> uint8 [F, H, W, 3], untiled."""
    x = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0  # [1, 3, F, H, W]
    dev = next(vae.parameters()).device
    y = vae.decode(vae.encode(x.to(dev), tiling=False), tiling=False).float().cpu()
    y = ((y[0].clamp(-1, 1) + 1) * 127.5).round().byte()  # [3, F, H, W]
    return y.permute(1, 2, 3, 0).numpy()[: len(frames)]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-12 else 0.0


def score_roundtrip(case: RoundTripCase, recon: np.ndarray) -> dict:
    """PSNR (first frame, all frames), whether the analyzer finds the face in both, the correlation of the
    mouth height read on the reconstruction with the one read on the original, and the lip-sync scores
    (offset, corr against the voice's loudness) of each."""
    from vitascope.synthetic.faces import analyze_talk

    orig = analyze_talk(case.frames, audio=case.voice, fps=FPS)
    back = analyze_talk(recon, audio=case.voice, fps=FPS)
    row = {
        "clip": case.name,
        "kind": case.kind,
        "psnr_first": psnr(recon[0], case.frames[0]),
        "psnr_all": psnr(recon, case.frames),
        "found": len(back.faces) == len(orig.faces) == 1,
    }
    if row["found"]:
        mo, mb = orig.faces[0], back.faces[0]
        row["mouth_corr"] = _corr(mo["mouth_height"], mb["mouth_height"])
        row["sync_orig"] = (int(mo["sync"]["offset"]), float(mo["sync"]["corr"]))
        row["sync_recon"] = (int(mb["sync"]["offset"]), float(mb["sync"]["corr"]))
    return row


def vae_face_roundtrip(
    vae, clips: int = 8, seed: int = 0, size: int = 64, seconds: float = 2.0
) -> list[dict]:
    """Round-trip and score every case (see the module docstring)."""
    rows = []
    for case in roundtrip_cases(clips, seed, size, seconds):
        rows.append(score_roundtrip(case, vae_roundtrip(vae, case.frames)))
        log.info("vae round trip %s: %s", case.name, rows[-1])
    return rows


def _kept(row: dict) -> bool:
    """The reconstruction still passes the eval's lip-sync bar: the analyzer finds the face, its offset is
    within one frame of the original's (world mouths lead their sound by a frame or two) and its
    correlation with the voice is >= 0.6."""
    if not row["found"]:
        return False
    (oo, _), (ob, cb) = row["sync_orig"], row["sync_recon"]
    return abs(ob - oo) <= 1 and cb >= 0.6


def summarize_roundtrip(rows: list[dict]) -> dict:
    """Per kind and over all rows: mean and worst first-frame PSNR, mean all-frame PSNR, faces found,
    mean mouth-height correlation (found faces), share of clips whose lip sync survives (`_kept`)."""
    out = {}
    for kind in (*KINDS, "all"):
        sel = [r for r in rows if kind in ("all", r["kind"])]
        if not sel:
            continue
        found = [r for r in sel if r["found"]]
        out[kind] = {
            "clips": len(sel),
            "psnr_first": float(np.mean([r["psnr_first"] for r in sel])),
            "psnr_first_worst": float(np.min([r["psnr_first"] for r in sel])),
            "psnr_all": float(np.mean([r["psnr_all"] for r in sel])),
            "found": len(found),
            "mouth_corr": float(np.mean([r["mouth_corr"] for r in found])) if found else None,
            "mouth_corr_worst": float(np.min([r["mouth_corr"] for r in found])) if found else None,
            "sync_kept": sum(_kept(r) for r in sel) / len(sel),
        }
    return out


def roundtrip_table(summary: dict) -> str:
    """The summary as a markdown table, one line per kind."""
    lines = [
        "| cases | clips | first frame dB (mean / worst) | all frames dB | faces found | mouth corr (mean / worst) | sync kept |",
        "|---|---|---|---|---|---|---|",
    ]
    f = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    for kind, s in summary.items():
        lines.append(
            f"| {kind} | {s['clips']} | {s['psnr_first']:.1f} / {s['psnr_first_worst']:.1f} | {s['psnr_all']:.1f} | "
            f"{s['found']}/{s['clips']} | {f(s['mouth_corr'])} / {f(s['mouth_corr_worst'])} | {s['sync_kept']:.2f} |"
        )
    return "\n".join(lines) + "\n"
