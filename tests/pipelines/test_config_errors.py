"""A malformed model config reaches the user as one `error:` line naming the file, never a traceback
(the first test runs the real `vitascope` process; the others its entry point in this process)."""

import json
import shutil
import subprocess
import sys

import pytest

from vitascope import cli
from vitascope.pipelines.loader import demo_model_path


@pytest.fixture
def broken(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(demo_model_path(), model)
    cfg = model / "transformer" / "config.json"
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "hiden_size": 64}))
    return model


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_unknown_config_key_is_one_error_line_from_the_real_cli(broken, tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vitascope.cli",
            "generate",
            "--model",
            str(broken),
            "-p",
            "a red circle",
            "-o",
            str(tmp_path / "v.mp4"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    errors = _error_lines(r.stderr)
    assert len(errors) == 1 and r.stderr.rstrip().endswith(errors[0])
    assert "transformer/config.json" in errors[0] and "hiden_size" in errors[0]
    assert not (tmp_path / "v.mp4").exists()


def _main(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["vitascope", *map(str, args)])
    with pytest.raises(SystemExit) as e:
        cli.main()
    return e.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    "change, words",
    [
        ({"rope_dim_list": [8, 8, 8]}, "must sum to the head dim"),  # __post_init__
        ({"image_condition_type": "sideways"}, "image_condition_type must be one of"),
        ({"patch_size": 2}, "config.json"),  # a TypeError inside the dataclass
    ],
)
def test_invalid_config_values_are_one_error_line(broken, monkeypatch, capsys, tmp_path, change, words):
    cfg = broken / "transformer" / "config.json"
    good = {k: v for k, v in json.loads(cfg.read_text()).items() if k != "hiden_size"}
    cfg.write_text(json.dumps({**good, **change}))
    code, err = _main(monkeypatch, capsys, "inspect", broken)
    assert code == 2 and "Traceback" not in err and len(_error_lines(err)) == 1
    assert words in err and "config.json" in err


def test_tencent_config_override_with_unknown_key(monkeypatch, capsys, tmp_path):
    from release_folders import tencent_release

    root = tencent_release(demo_model_path(), tmp_path / "ckpts")
    (root / "hunyuan-video-t2v-720p" / "transformers" / "config.json").write_text(
        '{"rope_dim_list": [8, 12, 12], "rope_dims": 1}'
    )
    code, err = _main(monkeypatch, capsys, "generate", "--model", root, "-p", "x", "-o", tmp_path / "v.mp4")
    assert code == 2 and "Traceback" not in err and "rope_dims" in _error_lines(err)[0]
