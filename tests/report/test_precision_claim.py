"""Claim 7 on hand-built frames: each verdict, and its plot on the page."""

from __future__ import annotations

import pandas as pd
import pytest
from report_frames import build_frame, energy

from profiler.report import plots
from profiler.report.claims import INCONCLUSIVE, NOT_SUPPORTED, RULES, SUPPORTED
from profiler.report.precision_claim import claim_precision


def _frame(precision_j: float, sparsity_j: float, **precision_row) -> pd.DataFrame:
    """Dense fp32 (1 mJ), dense bf16 and magnitude 50% fp32, CI half width 0.02 mJ."""
    bf16 = {"method": "dense", "dtype": "bf16", **energy(precision_j, 0.02e-3)}
    sparse = {"target_sparsity": 0.5, **energy(sparsity_j, 0.02e-3)}
    return build_frame({**bf16, **precision_row}, sparse)


def test_supported_when_precision_bounds_lie_below_sparsity() -> None:
    claim = claim_precision(_frame(0.5e-3, 0.8e-3))
    assert claim.verdict == SUPPORTED and claim.id == 7
    head = claim.evidence[0]
    assert head.verdict == SUPPORTED and head.ci_high < 1
    assert "dense bf16 vs magnitude 50% dense fp32" in head.label
    assert {e.group for e in claim.evidence[1:]} == {"precision only", "sparsity only"}


def test_not_supported_when_sparsity_saves_more() -> None:
    assert claim_precision(_frame(0.9e-3, 0.5e-3)).verdict == NOT_SUPPORTED


def test_inconclusive_when_bounds_straddle_one() -> None:
    assert claim_precision(_frame(0.70e-3, 0.71e-3)).verdict == INCONCLUSIVE


def test_inconclusive_when_precision_loses_accuracy_or_is_missing() -> None:
    lossy = claim_precision(_frame(0.5e-3, 0.8e-3, accuracy=0.90))
    assert lossy.verdict == INCONCLUSIVE
    assert "no precision-only variant within tolerance" in lossy.details
    sparse_only = build_frame({"target_sparsity": 0.5, **energy(0.5e-3, 0.02e-3)})
    assert claim_precision(sparse_only).verdict == INCONCLUSIVE
    assert claim_precision(pd.DataFrame()).verdict == INCONCLUSIVE
    assert "tolerance of dense fp32" in RULES[7]


def test_precision_plot_colours_dtypes_and_shapes_methods() -> None:
    svgs = plots.energy_vs_accuracy_by_precision(_frame(0.5e-3, 0.8e-3))
    assert len(svgs) == 1
    svg = svgs[0]
    assert "fp32 · dense" in svg and "bf16 · dense" in svg and "fp32 · magnitude" in svg
    assert plots.PALETTE[0] in svg and plots.PALETTE[1] in svg
    assert "<rect" in svg and "<circle" in svg  # one marker per method
    assert plots.energy_vs_accuracy_by_precision(build_frame()) == []


def test_page_shows_claim_7_and_the_plot(tmp_path) -> None:
    from profiler.report.html import RunData, render_page

    frame = _frame(0.5e-3, 0.8e-3)
    timeline = pd.DataFrame(columns=["config_key", "window", "time_s", "domain",
                                     "power_w", "source"])  # fmt: skip
    page = render_page([RunData(tmp_path / "runs.sqlite", frame, timeline, {})])
    assert 'id="claim-7"' in page and RULES[7].split(":")[0] in page
    assert "energy per inference vs accuracy by precision" in page


def test_summary_compares_every_dtype_with_dense_fp32() -> None:
    from profiler.report.claims import summarize

    frame = build_frame(
        {"method": "dense", "dtype": "int8", **energy(4e-3, 0.1e-3)},
        {"method": "structured", "target_sparsity": 0.5, "dtype": "int8",
         **energy(2e-3, 0.1e-3)},
        dense={**energy(10e-3, 0.1e-3)},
    )  # fmt: skip
    summary = summarize(frame, tolerance=0.01)
    assert "structured" in summary.label and "int8" in summary.label
    assert summary.ratio == pytest.approx(2.0 / 10.0)  # against dense fp32, not int8


def test_claim_7_ratios_print_as_ratios() -> None:
    from profiler.report.html import _evidence_value, _interval

    assert _evidence_value(0.608, "× dense fp32") == "0.608×"
    assert _interval(0.467, 0.836, "× dense fp32") == "0.467× to 0.836×"
