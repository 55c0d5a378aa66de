"""Claim 7: lower precision saves more energy than sparsity at equal accuracy.

A pure function of the results frame, like the six sparsity claims in `claims.py`. Per
model, device, batch size (and threads), only variants whose accuracy is within the
tolerance of the dense fp32 baseline take part. The lowest-energy precision-only variant
(method dense, dtype not fp32) is set against the lowest-energy sparsity-only variant
(dtype fp32, method not dense) with the ratio bounds of claims 1 and 2.
"""

from __future__ import annotations

import pandas as pd

from profiler.report.claims import (
    INCONCLUSIVE,
    Claim,
    Evidence,
    _interval_verdict,
    _is_dense,
    _num,
    aggregate,
    format_si,
    ratio_bounds,
)

__all__ = ["TITLE", "claim_precision"]

TITLE = "Lower precision saves more energy than sparsity at equal accuracy"
BASE_DTYPE = "fp32"
_EPS = 1e-12
_SETTING = ("model", "device", "batch_size", "threads")
_ENERGY = (
    "energy_per_inference_j",
    "energy_per_inference_ci_low_j",
    "energy_per_inference_ci_high_j",
)


def _dtype(frame: pd.DataFrame) -> pd.Series:
    if "dtype" not in frame.columns:
        return pd.Series(BASE_DTYPE, index=frame.index)
    return frame["dtype"].fillna(BASE_DTYPE).astype(str)


def _label(row: pd.Series) -> str:
    if str(row["method"]).lower() in ("dense", "none", "baseline"):
        return f"dense {row['dtype']}"
    level = f"{float(row['target_sparsity']) * 100:.4g}%"
    return f"{row['method']} {level} {row['format']} {row['dtype']}"


def _number(value: object) -> float:
    """A float, NaN for a missing value (one repeat gives no interval)."""
    return float("nan") if value is None or pd.isna(value) else float(value)


def _candidate(row: pd.Series, group: str, base: pd.Series) -> Evidence:
    """A row of the table: one eligible variant, energy as a ratio to dense fp32."""
    energy = [_number(row[c]) for c in _ENERGY]
    base_e = [_number(base[c]) for c in _ENERGY]
    low, high = ratio_bounds(*(pd.Series([v]) for v in (*energy[1:], *base_e[1:])))
    drop = (float(base["accuracy"]) - float(row["accuracy"])) * 100
    return Evidence(
        group=group,
        label=_label(row),
        value=energy[0] / base_e[0] if base_e[0] > 0 else float("nan"),
        ci_low=float(low.iloc[0]),
        ci_high=float(high.iloc[0]),
        unit="× dense fp32",
        verdict="",
        note=f"{format_si(energy[0], 'J')}, accuracy drop {drop:.3g} points",
    )


def _compare(best_p: pd.Series, best_s: pd.Series, setting: str) -> Evidence:
    """The verdict row: best precision-only over best sparsity-only energy."""
    values = [pd.Series([_number(r[c])]) for r in (best_p, best_s) for c in _ENERGY[1:]]
    low, high = ratio_bounds(*values)
    low_f, high_f = float(low.iloc[0]), float(high.iloc[0])
    ratio = float(best_p[_ENERGY[0]]) / float(best_s[_ENERGY[0]])
    return Evidence(
        group="best precision / best sparsity",
        label=f"{_label(best_p)} vs {_label(best_s)}{setting}",
        value=ratio,
        ci_low=low_f,
        ci_high=high_f,
        unit="× sparsity",
        verdict=_interval_verdict(low_f, high_f),
        note="below 1: the precision variant uses less energy",
    )


def _setting_claim(
    rows: pd.DataFrame, tolerance: float, setting: str
) -> tuple[list[Evidence], str, str]:
    """Evidence, verdict and a sentence for one model/device/batch setting."""
    dtype = _dtype(rows)
    dense = _is_dense(rows)
    base_rows = rows[dense & (dtype == BASE_DTYPE) & (rows["format"] == "dense")]
    if base_rows.empty or not pd.notna(_num(base_rows, "accuracy").iloc[0]):
        return [], INCONCLUSIVE, f"no dense fp32 baseline with accuracy{setting}"
    base = base_rows.iloc[0]
    drop = float(base["accuracy"]) - _num(rows, "accuracy")
    ok = (drop <= tolerance + _EPS) & _num(rows, _ENERGY[0]).notna()
    precision = rows[ok & dense & (dtype != BASE_DTYPE)]
    sparsity = rows[ok & ~dense & (dtype == BASE_DTYPE)]
    evidence = [_candidate(r, "precision only", base) for _, r in precision.iterrows()]
    evidence += [_candidate(r, "sparsity only", base) for _, r in sparsity.iterrows()]
    if precision.empty or sparsity.empty:
        side = "precision-only" if precision.empty else "sparsity-only"
        return evidence, INCONCLUSIVE, f"no {side} variant within tolerance{setting}"
    best_p = precision.loc[_num(precision, _ENERGY[0]).idxmin()]
    best_s = sparsity.loc[_num(sparsity, _ENERGY[0]).idxmin()]
    verdict_row = _compare(best_p, best_s, setting)
    text = f"{verdict_row.label}: {verdict_row.value:.3g}× ({verdict_row.verdict})"
    return [verdict_row, *evidence], verdict_row.verdict, text


def claim_precision(frame: pd.DataFrame, tolerance: float = 0.01) -> Claim:
    """Claim 7: the best precision-only variant against the best sparsity-only one."""
    if frame.empty or "method" not in frame.columns:
        return Claim(7, TITLE, INCONCLUSIVE, (), "No results to compare.")
    data = frame.assign(dtype=_dtype(frame))
    keys = [k for k in _SETTING if k in data.columns]
    settings = data[keys].astype(str).agg(" · ".join, axis=1)
    multi = settings.nunique() > 1
    evidence, verdicts, texts = [], [], []
    for setting in dict.fromkeys(settings):
        suffix = f" ({setting})" if multi else ""
        found, verdict, text = _setting_claim(
            data[settings == setting], tolerance, suffix
        )
        evidence += found
        verdicts.append(verdict)
        texts.append(text)
    details = (
        f"Within {tolerance * 100:.3g} point(s) of dense fp32 accuracy: "
        + "; ".join(texts)
        + "."
    )
    return Claim(7, TITLE, aggregate(verdicts), tuple(evidence), details)
