"""The pose recipe: `demo-pose` is registered as the VAE refinement plus the PoseDiT run; a few PoseTask steps
on a tiny base model train the pose modules from zero, and the run assembles a model folder that loads as a
pose model through the normal loader."""

import torch

from vitascope.train.buckets import Bucket
from vitascope.train.options import DiTOptions
from vitascope.train.recipes import Stage, demo_pose_dit, get_recipe


def test_demo_pose_recipe_is_registered():
    vae, dit = get_recipe("demo-pose")
    assert (vae.name, dit.name) == ("demo-pose-vae", "demo-pose-dit")
    assert vae.vae_options.figure_fraction > 0 and vae.vae_options.init_from.endswith("demo/vae")
    assert dit.dit_options.variant == "pose" and dit.vae_from == "demo-pose-vae" and dit.i2v_prob == 1.0
    assert dit.dit_options.init_from.endswith("demo/transformer")
    assert dit.export_options.recorded_recipe == "demo-pose"


def test_pose_task_trains_the_pose_modules_from_zero(tmp_path):
    from vitascope.models.pose import PoseDiT
    from vitascope.pipelines.loader import load_pipeline
    from vitascope.pipelines.tiny import tiny_dit_config, write_tiny_model
    from vitascope.train.dit_task import load_dit
    from vitascope.train.export import assemble_model_folder
    from vitascope.train.loop import train

    base = write_tiny_model(tmp_path / "base")  # a plain DiT: the pose modules start fresh
    recipe = demo_pose_dit().replace(
        dit=tiny_dit_config("token_replace"),
        vae_from=str(base / "vae"),
        text_from=str(base),
        text_len=16,
        pool_size=4,
        stages=(Stage("tiny", 2, (Bucket(5, 64, 64, 2),)),),
        ema_decay=0.0,
        dit_options=DiTOptions(init_from=str(base / "transformer"), variant="pose"),
    )
    run = tmp_path / "runs"
    res = train(recipe, run / recipe.name, run_root=run, device="cpu")
    assert res.step == 2 and all(torch.isfinite(torch.tensor(res.losses)))
    dit = load_dit(run / recipe.name / "export" / "transformer")
    assert isinstance(dit, PoseDiT) and dit.pose_proj.weight.abs().max() > 0  # moved off its zero init
    plain = load_dit(base / "transformer").state_dict()
    assert all(k in plain for k in dit.state_dict() if not k.startswith("pose_"))
    folder = assemble_model_folder(
        run / recipe.name, recipe, tmp_path / "model", run_root=run, trained_steps=2
    )
    pipe = load_pipeline(folder)
    assert isinstance(pipe.dit, PoseDiT) and pipe.i2v_mode == "token_replace"
