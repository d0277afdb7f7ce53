"""Measure a VAE's round trip on talking faces at the avatar size (train/avatar_vae_eval.py): first-frame
PSNR and whether the mouth openings (and so lip sync) survive, on world clips and evaluator-style cartoons.

    python scripts/avatar_vae_roundtrip.py src/vitascope/assets/avatar_demo/ckpts/hunyuan-video-t2v-720p/vae
    python scripts/avatar_vae_roundtrip.py runs/avatar-vae/export/vae --clips 12 --seconds 2 --json out.json
    python scripts/avatar_vae_roundtrip.py A/vae B/vae --picture docs/img/avatar_vae_roundtrip.png

With several VAEs each is measured in turn; --picture draws one row per case: the original frame with the
widest mouth, then each VAE's reconstruction of it.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("vae", type=Path, nargs="+", help="VAE folders (config.json + model.safetensors)")
    ap.add_argument("--clips", type=int, default=8, help="cases, alternating world and drawn")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--json", type=Path, help="write every row and the summary here (one VAE)")
    ap.add_argument("--picture", type=Path, help="write originals and reconstructions side by side (PNG)")
    ap.add_argument("--picture-clips", type=int, default=6, help="rows of the picture")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from vitascope.models.vae import load_vae
    from vitascope.train.avatar_vae_eval import roundtrip_table, summarize_roundtrip, vae_face_roundtrip

    for folder in args.vae:
        vae = load_vae(folder).eval()
        rows = vae_face_roundtrip(vae, args.clips, args.seed, args.size, args.seconds)
        print(f"{folder}:")
        for r in rows:
            print(
                f"  {r['clip']}: first {r['psnr_first']:.1f} dB, all {r['psnr_all']:.1f} dB, "
                + (
                    f"mouth corr {r['mouth_corr']:.2f}, sync orig {r['sync_orig']} recon {r['sync_recon']}"
                    if r["found"]
                    else "face not found in the reconstruction"
                )
            )
        summary = summarize_roundtrip(rows)
        print(roundtrip_table(summary))
        if args.json and len(args.vae) == 1:
            given = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
            given["vae"] = str(folder)
            args.json.write_text(json.dumps({"args": given, "rows": rows, "summary": summary}, indent=1))
    if args.picture:
        picture(args.vae, args.picture_clips, args.seed, args.size, args.seconds, args.picture)


def picture(folders, clips, seed, size, seconds, out: Path, zoom: int = 2) -> None:
    """One row per case: the original frame with the widest mouth, then each VAE's decode of that frame."""
    import cv2
    import numpy as np

    from vitascope.models.vae import load_vae
    from vitascope.synthetic.faces.audio import loudness
    from vitascope.train.avatar_vae_eval import roundtrip_cases, vae_roundtrip

    vaes = [load_vae(f).eval() for f in folders]
    rows = []
    for case in roundtrip_cases(clips, seed, size, seconds):
        t = int(np.argmax(loudness(case.voice, 25.0, len(case.frames))))  # a frame with the mouth open
        rows.append(np.concatenate([case.frames[t]] + [vae_roundtrip(v, case.frames)[t] for v in vaes], 1))
    img = np.concatenate(rows, 0)[..., ::-1]  # RGB -> BGR for OpenCV
    cv2.imwrite(str(out), cv2.resize(img, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
