"""SVG helpers: ticks, Pareto front, domains, and well-formed SVG for every plot."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from report_frames import energy

from profiler.report import plots


def test_nice_ticks_cover_the_range():
    ticks = plots.nice_ticks(0.03, 0.97)
    assert ticks[0] <= 0.03 and ticks[-1] >= 0.97
    assert len(ticks) <= 8


def test_pareto_front():
    energy_j = [1.0, 0.5, 0.2, 0.6, 0.1]
    accuracy = [0.97, 0.96, 0.5, 0.90, 0.3]
    # 0.6/0.90 is beaten by 0.5/0.96; the others trade energy for accuracy.
    assert plots.pareto_front(energy_j, accuracy) == [4, 2, 1, 0]


def test_domain_energy_scales_shares_and_skips_overlaps():
    row = {
        "energy_per_inference_j": 2.0e-3,
        "energy_by_domain": json.dumps(
            {"package-0": 3.0, "dram-0": 1.0, "core-0": 2.5, "psys": 9.0}
        ),
    }
    assert plots.domain_energy_j(row) == pytest.approx(
        {"CPU package": 1.5e-3, "DRAM": 0.5e-3}
    )
    gpu = {
        "energy_per_inference_j": 1.0,
        "energy_by_domain": '{"gpu-0": {"energy_j": 2}}',
    }
    assert plots.domain_energy_j(gpu) == {"GPU": 1.0}
    assert plots.domain_energy_j({"energy_by_domain": "not json"}) == {}
    estimate = {"energy_per_inference_j": 1.0, "energy_by_domain": '{"cpu": 1.0}'}
    assert plots.domain_energy_j(estimate) == {"CPU (estimate)": 1.0}  # not a package


def test_every_plot_is_well_formed_svg(make_frame):
    frame = make_frame(
        {"format": "csr", "target_sparsity": 0.9, **energy(0.5e-3, 0.05e-3)},
        {"format": "dense", "target_sparsity": 0.5, "accuracy": float("nan")},
    )
    timeline = pd.DataFrame(
        {"config_key": ["a"] * 4, "window": [0, 0, 1, 1], "time_s": [0, 1, 0, 1],
         "domain": ["cpu"] * 4, "power_w": [3.0, 4.0, 3.5, 3.0],
         "source": ["estimate"] * 4}
    )  # fmt: skip
    svgs = [
        *plots.energy_vs_sparsity(frame),
        *plots.latency_vs_sparsity(frame),
        *plots.accuracy_vs_energy(frame),
        plots.energy_by_domain(frame),
        plots.power_timeline(timeline),
    ]
    assert len(svgs) == 5
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg")
        assert root.find("{http://www.w3.org/2000/svg}title") is not None
    assert "energy per inference (mJ)" in svgs[0]  # axis label with unit
    assert "latency per batch (ms)" in svgs[1]
    assert "Pareto front" in svgs[2]
    assert "power (W)" in svgs[4] and "time since the first window (s)" in svgs[4]


def test_timeline_lays_per_window_clocks_end_to_end():
    timeline = pd.DataFrame(
        {"config_key": ["a", "a", "b", "b"], "window": [0, 0, 0, 0],
         "time_s": [0.0, 1.0, 0.0, 1.0]}
    )  # fmt: skip
    assert plots._global_time(timeline).tolist() == pytest.approx([0, 1, 1.05, 2.05])


def test_empty_inputs_give_no_plot(make_frame):
    assert plots.power_timeline(pd.DataFrame()) == ""
    assert plots.energy_vs_sparsity(make_frame().iloc[0:0]) == []
