"""`make demo` runs `vitascope demo`: the bundled model writes a T2V and an I2V sample that decode, and says
where they are. Run as a user runs it (a subprocess), on the bundled model."""

import os
import subprocess
import sys

import av


def test_vitascope_demo_writes_both_samples(tmp_path):
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run(
        [sys.executable, "-m", "vitascope.cli", "demo", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    for name in ("t2v.mp4", "i2v.mp4"):
        path = tmp_path / "demo" / name
        assert str(path) in r.stdout
        with av.open(str(path)) as f:
            frames = [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]
        assert len(frames) == 17 and frames[0].shape[:2] == (64, 64)
        assert max(int(fr.max()) for fr in frames) > 100  # a drawn object, not a blank clip
