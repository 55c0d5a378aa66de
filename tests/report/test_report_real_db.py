"""A small real run (the harness on a tiny MLP) rendered through store and tables."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from profiler.report.html import render_report


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from profiler.models.load import save_checkpoint
    from profiler.models.zoo import build
    from profiler.sweep import SweepSpec, run_sweep

    out = tmp_path_factory.mktemp("run")
    arch = {"class": "MLP", "kwargs": {"in_features": 64, "hidden": [32],
                                       "out_features": 10}}  # fmt: skip
    save_checkpoint(build(arch), arch, out / "m.pt", input_shape=(64,))
    spec = SweepSpec(
        checkpoint=out / "m.pt", methods=("magnitude",), sparsities=(0.9,),
        formats=("dense", "csr"), repeats=2, min_window_s=0.12, idle_s=0.0,
        warmup_s=0.01, sensors=("estimate",),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the estimate warns that it is an estimate
        run_sweep(spec, out / "runs.sqlite")
    return out


def test_report_from_a_real_database(run_dir, tmp_path):
    from profiler import tables

    out = render_report([run_dir], tmp_path / "report.html")
    page = out.read_text(encoding="utf-8")
    frame = tables.results_frame(run_dir / "runs.sqlite")
    assert len(frame) == 3
    for claim_id in range(1, 7):
        assert f'id="claim-{claim_id}"' in page
    assert 'id="estimate-banner"' in page  # the estimate sensor was used
    for value in frame["energy_per_inference_j"]:
        assert f'data-col="energy_per_inference_j" data-value="{float(value)!r}"' in page
    # windows of 0.12 s hold samples of the 0.05 s sampler: power over time is drawn
    assert page.count("<svg") >= 5
    assert "cpu_model" in page  # the run's metadata


def test_comparison_of_a_run_with_itself(run_dir, tmp_path):
    out = render_report([run_dir, run_dir / "runs.sqlite"], tmp_path / "cmp.html")
    page = out.read_text(encoding="utf-8")
    assert 'id="comparison"' in page
    assert page.count('data-value="1.0"') >= 3  # every energy ratio is exactly 1
