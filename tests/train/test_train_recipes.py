"""Recipes are typed, validated configs: a typo is an error that names it, never a silently ignored knob."""

from __future__ import annotations

import pytest

from vitascope.errors import InvalidOptionError
from vitascope.train.recipes import DiTOptions, ExportOptions, VAEOptions, get_recipe


def test_typos_in_options_are_rejected_by_name():
    base = get_recipe("demo-vae")[0]
    with pytest.raises(InvalidOptionError, match="unknown key 'mse_wieght'.*mse_weight"):
        base.replace(vae_options={"mse_wieght": 1.0})
    with pytest.raises(InvalidOptionError, match="unknown key 'travel'"):
        get_recipe("demo-dit")[0].replace(dit_options={"travel": (0.5, 1.0)})
    with pytest.raises(InvalidOptionError, match="defaults: unknown key 'hieght'"):
        ExportOptions(defaults={"hieght": 64})
    with pytest.raises(InvalidOptionError, match="has no field 'lr_rate'"):
        base.replace(lr_rate=1e-3)


def test_options_are_validated_and_dicts_become_typed():
    r = get_recipe("demo-vae")[0].replace(vae_options={"mse_weight": 1.0, "l1_weight": 0.0})
    assert isinstance(r.vae_options, VAEOptions) and r.vae_options.mse_weight == 1.0
    with pytest.raises(InvalidOptionError, match="both 0"):
        VAEOptions(mse_weight=0.0, l1_weight=0.0)
    with pytest.raises(InvalidOptionError, match="travel_range"):
        DiTOptions(travel_range=(1.0, 0.5))
    with pytest.raises(InvalidOptionError, match="frame_interval"):
        get_recipe("vae")[0].replace(frame_interval=(3, 1))


def test_the_release_dit_recipe_asks_for_its_data():
    from vitascope.train.dit_task import DiTTask

    with pytest.raises(InvalidOptionError, match="--data"):
        DiTTask(get_recipe("dit")[0], "unused", "unused")
