"""Bundle a trained pose model folder (`vitascope train --recipe demo-pose`'s OUT/model) as the package's
small pose model in src/vitascope/assets/pose/: the DiT and VAE weights in float16, the demo model's text
encoders by reference (vitascope.json "parts"), so the folder stays under 10 MB.

    PYTHONPATH=src python scripts/bundle_pose_model.py runs/pose/model
"""

from __future__ import annotations

import filecmp
import json
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

ASSETS = Path(__file__).resolve().parents[1] / "src" / "vitascope" / "assets"


def half(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    state = load_file(str(src / "model.safetensors"))
    save_file(
        {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()},
        str(dst / "model.safetensors"),
        metadata={"format": "pt"},
    )
    shutil.copy(src / "config.json", dst / "config.json")


def main(model: Path) -> None:
    out = ASSETS / "pose"
    for sub in ("text_encoder", "text_encoder_2"):  # trained with the demo's encoders: share them
        same = filecmp.dircmp(model / sub, ASSETS / "demo" / sub)
        if same.diff_files or same.left_only or same.right_only:
            raise SystemExit(f"{model / sub} differs from the demo model's; cannot share it")
    tmp = out.with_name(".pose.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    half(model / "transformer", tmp / "transformer")
    half(model / "vae", tmp / "vae")
    meta = json.loads((model / "vitascope.json").read_text())
    meta["parts"] = {"text_encoder": "../demo/text_encoder", "text_encoder_2": "../demo/text_encoder_2"}
    meta["weights_dtype"] = "float16"
    (tmp / "vitascope.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
