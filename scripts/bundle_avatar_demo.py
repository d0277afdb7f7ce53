"""Copy an avatar training export (`vitascope train --recipe demo-avatar`, OUT/export) into the package as the
bundled avatar demo, src/vitascope/assets/avatar_demo/, with the DiT and VAE weights stored in fp16 (they load
into fp32 models; halves the package share). The run's recipe.json goes along as the recipe record.

    python scripts/bundle_avatar_demo.py runs/avatar/export
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch

DIT = Path("hunyuan-video-t2v-720p") / "transformers" / "mp_rank_00_model_states.pt"
TARGET = Path(__file__).resolve().parents[1] / "src" / "vitascope" / "assets" / "avatar_demo"


def main(export: Path) -> None:
    from safetensors.torch import load_file, save_file

    if TARGET.exists():
        shutil.rmtree(TARGET)
    shutil.copytree(export / "ckpts", TARGET / "ckpts")
    shutil.copy(export / "recipe.json", TARGET / "recipe.json")
    dit = TARGET / "ckpts" / DIT
    state = torch.load(dit, weights_only=True)["module"]
    torch.save({"module": {k: v.half() if v.is_floating_point() else v for k, v in state.items()}}, dit)
    vae = TARGET / "ckpts" / "hunyuan-video-t2v-720p" / "vae" / "model.safetensors"
    save_file({k: v.half() for k, v in load_file(str(vae)).items()}, str(vae))
    size = sum(p.stat().st_size for p in TARGET.rglob("*") if p.is_file())
    print(f"bundled {export} -> {TARGET} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
