"""`energy-profiler profile --ray local` in a fresh process, as a user runs it.

In-process tests share one Ray instance that is already running; only a fresh process
shows whether the CLI sets Ray's environment before anything imports ray.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from profiler import tables
from profiler.models.load import save_checkpoint
from profiler.models.zoo import build

if importlib.util.find_spec("ray") is None:  # CI installs the [ray] extra
    pytest.skip("ray is not installed", allow_module_level=True)


def test_ray_local_from_a_fresh_process(tmp_path: Path) -> None:
    arch = {"class": "MLP", "kwargs": {"in_features": 64, "hidden": [16],
                                       "out_features": 10}}  # fmt: skip
    ckpt = save_checkpoint(build(arch), arch, tmp_path / "tiny.pt", input_shape=(64,))
    out = tmp_path / "out"
    args = [sys.executable, "-m", "profiler", "profile", str(ckpt), "--ray", "local",
            "--out", str(out), "--repeats", "2", "--min-window", "0.05", "--idle",
            "0.05", "--sensors", "estimate", "--method", "magnitude", "--sparsity",
            "0.5", "--format", "dense"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Token authentication is enabled" not in done.stderr, done.stderr
    frame = tables.results_frame(out / "runs.sqlite")
    assert len(frame) == 2 and frame["node"].map(bool).all()
