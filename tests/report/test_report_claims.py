"""Claim verdicts on hand-built frames whose right answers were worked out by hand.

Dense baseline (conftest): energy 1.0 mJ, CI 0.95 to 1.05 mJ; latency 2.0 ms, CI 1.9 to
2.1 ms; accuracy 0.97; 40 000 bytes; 10 000 params.
"""

from __future__ import annotations

import math

import pytest
from report_frames import energy, latency

from profiler.report import claims
from profiler.report.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED

# bounds = [lo / 1.05e-3, hi / 0.95e-3]
BELOW = energy(0.5e-3, 0.05e-3)  # [0.4286, 0.5789]: wholly below 1
ABOVE = energy(1.5e-3, 0.1e-3)  # [1.333, 1.684]: wholly above 1
OVERLAP = energy(0.98e-3, 0.05e-3)  # [0.886, 1.084]: straddles 1


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        ([{"format": "csr", "target_sparsity": 0.9, **BELOW}], SUPPORTED),
        ([{"format": "csr", "target_sparsity": 0.5, **ABOVE}], NOT_SUPPORTED),
        ([{"format": "csr", "target_sparsity": 0.5, **OVERLAP}], INCONCLUSIVE),
        (
            [
                {"format": "csr", "target_sparsity": 0.5, **ABOVE},
                {"format": "dense", "target_sparsity": 0.5, **OVERLAP},
            ],
            INCONCLUSIVE,
        ),
    ],
)
def test_energy_verdicts(make_frame, variants, expected):
    claim = claims.claim_energy(make_frame(*variants))
    assert claim.id == 1
    assert claim.verdict == expected


def test_energy_evidence_numbers_and_groups(make_frame):
    frame = make_frame(
        {"format": "csr", "target_sparsity": 0.9, **BELOW},
        {"format": "dense", "target_sparsity": 0.9, **OVERLAP},
    )
    claim = claims.claim_energy(frame)
    csr, dense = claim.evidence
    assert csr.value == pytest.approx(0.5)
    assert csr.ci_low == pytest.approx(0.45e-3 / 1.05e-3)
    assert csr.ci_high == pytest.approx(0.55e-3 / 0.95e-3)
    assert (csr.verdict, dense.verdict) == (SUPPORTED, INCONCLUSIVE)
    assert "magnitude · csr: supported" in claim.details
    assert "magnitude · dense: inconclusive" in claim.details
    assert "vs dense 1 mJ" in csr.note


def test_negative_ci_low_is_clipped_and_zero_baseline_gives_infinity(make_frame):
    frame = make_frame(
        {"format": "csr", **energy(2.0e-3, 0.5e-3)},
        dense={"energy_per_inference_ci_low_j": -1e-4},
    )
    (item,) = claims.claim_energy(frame).evidence
    assert item.ci_low == pytest.approx(1.5e-3 / 1.05e-3)
    assert math.isinf(item.ci_high)
    assert item.verdict == NOT_SUPPORTED


def test_missing_baseline_is_inconclusive(make_frame):
    frame = make_frame({"format": "csr", **BELOW})
    frame.loc[0, "device"] = "cuda:0"
    claim = claims.claim_energy(frame)
    assert claim.verdict == INCONCLUSIVE
    assert claim.evidence[0].note == "no dense baseline"


@pytest.mark.parametrize(
    ("lat", "expected"),
    [
        (latency(1.0, 0.1), SUPPORTED),  # [0.9 / 2.1, 1.1 / 1.9] = [0.43, 0.58]
        (latency(3.0, 0.2), NOT_SUPPORTED),  # lo 2.8/2.1 = 1.33
        (latency(2.0, 0.1), INCONCLUSIVE),
    ],
)
def test_latency_verdicts(make_frame, lat, expected):
    claim = claims.claim_latency(make_frame({"format": "csr", **lat}))
    assert (claim.id, claim.verdict) == (2, expected)


@pytest.mark.parametrize(
    ("format_bytes", "expected"),
    [(20000, SUPPORTED), (60000, NOT_SUPPORTED), (40000, NOT_SUPPORTED),
     (None, INCONCLUSIVE)],
)  # fmt: skip
def test_storage_verdicts(make_frame, format_bytes, expected):
    claim = claims.claim_storage(make_frame({"format_bytes": format_bytes}))
    assert (claim.id, claim.verdict) == (3, expected)
    if format_bytes:
        assert claim.evidence[0].value == pytest.approx(format_bytes / 40000)


def test_accuracy_supported_with_level(make_frame):
    frame = make_frame(
        {"target_sparsity": 0.5, "accuracy": 0.965},  # drop 0.5 points
        {"target_sparsity": 0.7, "accuracy": 0.93},  # drop 4 points
        {"target_sparsity": 0.9, "accuracy": 0.50},  # drop 47 points
    )
    claim = claims.claim_accuracy(frame, 0.01)
    assert (claim.id, claim.verdict) == (4, SUPPORTED)
    assert "from 70% on, at 2 of 3 level(s)" in claim.details
    assert "largest drop 47 points at 90%" in claim.details
    assert [e.verdict for e in claim.evidence] == [NOT_SUPPORTED, SUPPORTED, SUPPORTED]
    assert claim.evidence[1].value == pytest.approx(4.0)


def test_accuracy_drop_of_exactly_the_tolerance_does_not_exceed_it(make_frame):
    claim = claims.claim_accuracy(make_frame({"accuracy": 0.96}), 0.01)
    assert claim.verdict == NOT_SUPPORTED
    assert "no drop exceeds 1 point(s)" in claim.details


def test_accuracy_tolerance_is_configurable(make_frame):
    frame = make_frame({"accuracy": 0.93})
    assert claims.claim_accuracy(frame, 0.05).verdict == NOT_SUPPORTED
    assert claims.claim_accuracy(frame, 0.01).verdict == SUPPORTED


def test_accuracy_missing_is_inconclusive(make_frame):
    assert claims.claim_accuracy(make_frame({"accuracy": None})).verdict == INCONCLUSIVE


def _scaled(fraction_kept: float, energy_j: float) -> dict:
    return {
        "target_sparsity": round(1 - fraction_kept, 3),
        "flops_effective": 20000 * fraction_kept,
        "nonzero_params": 10000 * fraction_kept,
        **energy(energy_j, energy_j * 0.05),
    }


def test_correlation_supported_when_energy_tracks_flops(make_frame):
    frame = make_frame(*[_scaled(k, 1e-3 * k) for k in (0.8, 0.5, 0.3, 0.1)])
    claim = claims.claim_correlation(frame)
    assert (claim.id, claim.verdict) == (5, SUPPORTED)
    spearman = [e for e in claim.evidence if e.label.startswith("Spearman")]
    assert [e.value for e in spearman] == [pytest.approx(1.0)] * 2
    assert "n = 5" in spearman[0].label


def test_correlation_not_supported_when_energy_ignores_flops(make_frame):
    energies = (1.01e-3, 0.99e-3, 1.02e-3, 0.98e-3)  # ranks against flops: no order
    frame = make_frame(*[_scaled(k, e) for k, e in zip((0.8, 0.5, 0.3, 0.1), energies)])
    claim = claims.claim_correlation(frame)
    assert claim.verdict == NOT_SUPPORTED
    pearson = next(e for e in claim.evidence if e.label.startswith("Pearson"))
    assert -1 <= pearson.ci_low < pearson.value < pearson.ci_high <= 1


def test_correlation_with_too_few_points_is_inconclusive(make_frame):
    claim = claims.claim_correlation(make_frame(_scaled(0.5, 0.5e-3), _scaled(0.1, 1e-4)))
    assert claim.verdict == INCONCLUSIVE
    assert "Fewer than 4 points" in claim.details


def test_correlation_uses_the_setting_with_most_rows(make_frame):
    rows = [_scaled(k, 1e-3 * k) for k in (0.8, 0.5, 0.3, 0.1)]
    other = [{**r, "batch_size": 1, "energy_per_inference_j": 9.0} for r in rows[:2]]
    claim = claims.claim_correlation(make_frame(*rows, *other))
    assert claim.verdict == SUPPORTED
    assert "batch 64" in claim.details


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        (energy(1.0e-3, 0.05e-3), SUPPORTED),  # within dense's CI
        (energy(1.3e-3, 0.05e-3), SUPPORTED),  # costs more: still saves nothing
        (BELOW, NOT_SUPPORTED),  # saves energy beyond both CIs
        (energy(0.94e-3, 0.04e-3), INCONCLUSIVE),  # below dense CI low, CIs overlap
    ],
)
def test_masked_null_verdicts(make_frame, variant, expected):
    claim = claims.claim_masked_null(make_frame({"format": "dense", **variant}))
    assert (claim.id, claim.verdict) == (6, expected)


def test_masked_null_ignores_structured_and_csr(make_frame):
    frame = make_frame(
        {"method": "structured", "params": 5000, "format": "dense", **BELOW},
        {"format": "csr", **BELOW},
    )
    claim = claims.claim_masked_null(frame)
    assert claim.verdict == INCONCLUSIVE
    assert claim.evidence == ()


def test_all_claims_on_an_empty_frame_are_inconclusive(make_frame):
    empty = make_frame().iloc[0:0]
    results = claims.all_claims(empty)
    assert [c.id for c in results] == [1, 2, 3, 4, 5, 6, 7]  # 7: issue 9
    assert {c.verdict for c in results} == {INCONCLUSIVE}
    assert not claims.summarize(empty).found


def test_summary_picks_lowest_energy_within_tolerance(make_frame):
    frame = make_frame(
        {"format": "csr", "accuracy": 0.965, **BELOW},
        {"format": "csr", "target_sparsity": 0.95, "accuracy": 0.5,
         **energy(0.1e-3, 0.01e-3)},
    )  # fmt: skip
    summary = claims.summarize(frame, 0.01)
    assert summary.found and not summary.is_dense
    assert summary.energy_per_inference_j == pytest.approx(0.5e-3)
    assert summary.ratio == pytest.approx(0.5)
    assert "magnitude 0% csr" in summary.text
    assert "lower than dense beyond the confidence intervals" in summary.text
    wide = claims.summarize(frame, 0.5)
    assert wide.energy_per_inference_j == pytest.approx(0.1e-3)


def test_summary_says_when_dense_is_best(make_frame):
    summary = claims.summarize(make_frame({"format": "csr", **ABOVE}))
    assert summary.is_dense
    assert summary.text.startswith("No sparse variant")


def test_claims_are_frozen(make_frame):
    claim = claims.claim_energy(make_frame({"format": "csr", **BELOW}))
    with pytest.raises(AttributeError):
        claim.verdict = "x"  # type: ignore[misc]


def test_rows_of_several_dtypes_are_told_apart() -> None:
    from report_frames import build_frame, energy

    from profiler.report.claims import claim_energy

    frame = build_frame(
        {"target_sparsity": 0.5, **energy(0.8e-3, 0.02e-3)},
        {"method": "dense", "dtype": "int8", **energy(0.5e-3, 0.02e-3)},
        {"target_sparsity": 0.5, "dtype": "int8", **energy(0.4e-3, 0.02e-3)},
    )
    labels = [e.label for e in claim_energy(frame).evidence]
    assert len(labels) == len(set(labels)) == 2
    assert any(label.endswith("fp32") for label in labels)
    assert any(label.endswith("int8") for label in labels)
