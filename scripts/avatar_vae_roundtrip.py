"""Measure a VAE's round trip on talking faces at the avatar size (pipelines/avatar_vae_eval.py): first-frame
PSNR and whether the mouth openings (and so lip sync) survive, on world clips and evaluator-style cartoons.

    python scripts/avatar_vae_roundtrip.py src/vitascope/assets/avatar_demo/ckpts/hunyuan-video-t2v-720p/vae
    python scripts/avatar_vae_roundtrip.py runs/avatar-vae/export/vae --clips 12 --seconds 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("vae", type=Path, help="a VAE folder (config.json + model.safetensors) or a model folder")
    ap.add_argument("--clips", type=int, default=8, help="cases, alternating world and drawn")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--json", type=Path, help="write every row and the summary here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from vitascope.models.vae import load_vae
    from vitascope.pipelines.avatar_vae_eval import roundtrip_table, summarize_roundtrip, vae_face_roundtrip

    vae = load_vae(args.vae).eval()
    rows = vae_face_roundtrip(vae, args.clips, args.seed, args.size, args.seconds)
    summary = summarize_roundtrip(rows)
    for r in rows:
        print(
            f"{r['clip']}: first {r['psnr_first']:.1f} dB, all {r['psnr_all']:.1f} dB, "
            + (
                f"mouth corr {r['mouth_corr']:.2f}, sync orig {r['sync_orig']} recon {r['sync_recon']}"
                if r["found"]
                else "face not found in the reconstruction"
            )
        )
    print(roundtrip_table(summary))
    if args.json:
        given = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        args.json.write_text(json.dumps({"args": given, "rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
