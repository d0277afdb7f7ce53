"""Train the bundled demo model with the recorded `demo` recipe, each part under a wall-clock budget.

    # what the shipped weights ran: the first VAE on one H200, everything after it on 2 CPU cores
    PYTHONPATH=src python3 scripts/train_demo.py --out runs/demo --device cuda --parts vae \
        --vae-seconds 105 --data-workers 14 [--export-to DIR]
    PYTHONPATH=src python3 scripts/train_demo.py --out runs/demo --device cpu --parts dec,ft,dit,dit2 \
        --ft-seconds 1680 --dit-seconds 3300 --dit2-seconds 2400

The same loop as `vitascope train --recipe demo` (`vitascope.train.loop.train`), with two differences that
only concern how long it runs: each recipe stops after its time budget (the learning rate is flat after
warm-up, so that is the recipe truncated at the step reached; `vitascope.json` records the DiT's step), and
with --bundled-text the run's DiT uses the text encoders bundled with the package instead of writing and
pretraining its own (so that a machine with another `transformers` version trains on identical weights).

--export-to DIR copies what a GPU machine must hand back into at most 8 flat files: the two weight files,
a tar of the rest of the model folder, the metrics and the log, and summary.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tarfile
import time
from pathlib import Path

log = logging.getLogger("train_demo")


def _copy_text_encoders(dit_run: Path) -> None:
    from vitascope.pipelines.loader import demo_model_path

    target = dit_run / "text_encoders"
    if (target / "text_encoder_2").exists():
        return
    src = Path(demo_model_path())
    for sub in ("text_encoder", "text_encoder_2"):
        shutil.copytree(src / sub, target / sub)
    log.info("text encoders: copied the bundled tiny ones from %s", src)


def _export(out: Path, dest: Path, summary: dict) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    model = out / "model"
    if (model / "transformer" / "model.safetensors").exists():
        shutil.copy(model / "transformer" / "model.safetensors", dest / "transformer.safetensors")
    vae = model / "vae" if (model / "vae").exists() else out / "demo-vae" / "export" / "vae"
    if (vae / "model.safetensors").exists():
        shutil.copy(vae / "model.safetensors", dest / "vae.safetensors")
    with tarfile.open(dest / "rest.tar.gz", "w:gz") as tar:
        for path in sorted(out.rglob("*")):
            rel = path.relative_to(out)
            small = path.suffix in (".json", ".jsonl", ".txt", ".jinja")
            if path.is_file() and small and not {"latents", "checkpoints"} & set(rel.parts):
                tar.add(path, arcname=str(rel))
    (dest / "summary.json").write_text(json.dumps(summary, indent=1))
    log.info("exported to %s", dest)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/demo"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--vae-seconds", type=float, default=None)
    ap.add_argument("--dit-seconds", type=float, default=None)
    ap.add_argument("--dec-seconds", type=float, default=None)
    ap.add_argument("--ft-seconds", type=float, default=None)
    ap.add_argument("--dit2-seconds", type=float, default=None)
    ap.add_argument(
        "--parts",
        default="vae,dec,ft,dit,dit2",
        help="which of vae, dec, ft, dit, dit2 to run (in that order)",
    )
    ap.add_argument(
        "--bundled-text", action="store_true", help="copy the bundled text encoders into the DiT run"
    )
    ap.add_argument("--data-workers", type=int, default=0)
    ap.add_argument("--export-to", type=Path, default=None)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(), logging.FileHandler(args.out / "train_log.txt")],
    )
    import torch

    from vitascope.train.checkpoint import latest_checkpoint
    from vitascope.train.export import assemble_model_folder
    from vitascope.train.loop import train
    from vitascope.train.recipes import demo

    vae_r, dec_r, ft_r, dit_r, dit2_r = demo()
    parts = set(args.parts.split(","))
    summary: dict = {"device": str(args.device), "torch": torch.__version__, "parts": sorted(parts)}
    if torch.cuda.is_available():
        summary["gpu"] = torch.cuda.get_device_name(0)
    try:
        for name, r, budget in (
            ("vae", vae_r, args.vae_seconds),
            ("dec", dec_r, args.dec_seconds),
            ("ft", ft_r, args.ft_seconds),
            ("dit", dit_r, args.dit_seconds),
            ("dit2", dit2_r, args.dit2_seconds),
        ):
            if name not in parts:
                continue
            t0 = time.monotonic()
            if r is dit_r and args.bundled_text:
                _copy_text_encoders(args.out / r.name)
            workers = args.data_workers if r.kind == "vae" else 0
            res = train(
                r,
                args.out / r.name,
                run_root=args.out,
                device=args.device,
                max_seconds=budget,
                data_workers=workers,
            )
            summary[name] = {"steps": res.step, "seconds": round(time.monotonic() - t0, 1)}
            if args.export_to:
                _export(args.out, args.export_to, summary)
        # the model folder: the last DiT part that has an export; trained_steps counts both DiT parts
        done = [r for r in (dit_r, dit2_r) if (args.out / r.name / "export" / "transformer").exists()]
        if done:
            dit_steps = sum(
                json.loads((latest_checkpoint(args.out / r.name) / "state.json").read_text())["step"]
                for r in done
            )
            assemble_model_folder(
                args.out / done[-1].name,
                done[-1],
                args.out / "model",
                run_root=args.out,
                trained_steps=dit_steps,
            )
            summary["model"] = str(args.out / "model")
    finally:
        log.info("summary: %s", summary)
        if args.export_to:
            _export(args.out, args.export_to, summary)


if __name__ == "__main__":
    main()
