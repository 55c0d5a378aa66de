"""The six sparsity claims, tested against a results frame.

Every function here is pure: it takes the frame that `profiler.tables.results_frame`
returns (one row per configuration) and gives back frozen dataclasses. Nothing is read
from disk and nothing is rendered.

Each variant is compared with the dense baseline of the same model, device, batch size
and dtype. Energy and latency comparisons use the *ratio bounds*
``[variant_ci_low / dense_ci_high, variant_ci_high / dense_ci_low]``: every ratio that is
consistent with both 95% confidence intervals lies inside them, so a verdict drawn from
them is conservative (it equals asking whether the two intervals overlap).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "BASELINE_KEYS",
    "CONFIG_KEYS",
    "Claim",
    "Evidence",
    "RULES",
    "SUPPORTED",
    "NOT_SUPPORTED",
    "INCONCLUSIVE",
    "Summary",
    "aggregate",
    "all_claims",
    "baseline_keys",
    "claim_accuracy",
    "claim_correlation",
    "claim_energy",
    "claim_latency",
    "claim_masked_null",
    "claim_storage",
    "format_si",
    "summarize",
    "variant_label",
    "with_baseline",
]

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
INCONCLUSIVE = "inconclusive"

BASELINE_KEYS = ("model", "device", "batch_size", "dtype")
CONFIG_KEYS = (
    "model",
    "method",
    "target_sparsity",
    "format",
    "device",
    "batch_size",
    "dtype",
)
DENSE_METHODS = frozenset({"dense", "none", "baseline"})
MIN_CORRELATION_POINTS = 4
CORRELATION_THRESHOLD = 0.8
_Z95 = 1.959963984540054
_EPS = 1e-12

RULES: Mapping[int, str] = {
    1: (
        "Per variant, the energy ratio bounds [variant CI low / dense CI high, variant "
        "CI high / dense CI low] are compared with 1: wholly below 1 = supported, wholly "
        "at or above 1 = not supported, straddling 1 = inconclusive. A method and "
        "format is supported when any of its levels is, not supported when all are; "
        "the claim as a whole likewise over methods and formats."
    ),
    2: "As claim 1, with latency per batch and its 95% CI instead of energy.",
    3: (
        "Bytes in the execution format (format_bytes) over the dense baseline's bytes; "
        "counts are exact, so below 1 = supported, at or above 1 = not supported, "
        "missing = inconclusive. Aggregated over levels and formats as claim 1."
    ),
    4: (
        "Accuracy drop = dense accuracy - variant accuracy, per method (the worst over "
        "formats at each level). Supported when any drop exceeds the tolerance, not "
        "supported when none does, inconclusive when accuracy is missing. Accuracy "
        "comes without a confidence interval."
    ),
    5: (
        "On the device, batch size and dtype with the most variants: Pearson and "
        "Spearman correlation of energy per inference with flops_effective and with "
        "nonzero_params (Fisher 95% CI). Supported when n >= 4 and a Spearman rho >= "
        "0.8; not supported when n >= 4 and both are below 0.8; otherwise inconclusive."
    ),
    6: (
        "Variants that keep every weight (params equal to dense) in dense format. A "
        "variant saves energy when its ratio bounds lie wholly below 1, saves nothing "
        "when its energy is at or above dense's CI low. Supported when every such "
        "variant saves nothing, not supported when any saves energy, otherwise "
        "(or with no such variant) inconclusive."
    ),
    7: (
        "Per model, device and batch size, among variants whose accuracy is within the "
        "tolerance of dense fp32: the lowest-energy precision-only variant (method "
        "dense, dtype not fp32) over the lowest-energy sparsity-only variant (fp32, "
        "method not dense), with ratio bounds [precision CI low / sparsity CI high, "
        "precision CI high / sparsity CI low]: wholly below 1 = supported, wholly at or "
        "above 1 = not supported, straddling 1, or either side missing = inconclusive. "
        "Settings aggregate as in claim 1. The table lists every eligible variant as "
        "energy × dense fp32."
    ),
}


@dataclass(frozen=True)
class Evidence:
    """One number behind a claim, with its 95% interval where one exists."""

    group: str
    label: str
    value: float
    ci_low: float | None
    ci_high: float | None
    unit: str
    verdict: str
    note: str = ""


@dataclass(frozen=True)
class Claim:
    """A claim, the verdict the numbers give it, and the numbers themselves."""

    id: int
    title: str
    verdict: str
    evidence: tuple[Evidence, ...]
    details: str


@dataclass(frozen=True)
class Summary:
    """The lowest-energy variant whose accuracy is within tolerance of dense."""

    found: bool
    text: str
    label: str = ""
    energy_per_inference_j: float = math.nan
    ratio: float = math.nan
    ratio_low: float = math.nan
    ratio_high: float = math.nan
    accuracy: float = math.nan
    dense_accuracy: float = math.nan
    is_dense: bool = False


# ---------------------------------------------------------------- formatting


_PREFIXES = (
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
    (1.0, ""),
    (1e-3, "m"),
    (1e-6, "µ"),
    (1e-9, "n"),
)


def format_si(value: float | None, unit: str, digits: int = 4) -> str:
    """Format `value` with an SI prefix, e.g. ``format_si(0.0012, "J") == "1.2 mJ"``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value == 0:
        return f"0 {unit}"
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale * 0.9995:
            return f"{value / scale:.{digits}g} {prefix}{unit}"
    scale, prefix = _PREFIXES[-1]
    return f"{value / scale:.{digits}g} {prefix}{unit}"


def _bound(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "∞" if math.isinf(value) else f"{value:.3g}"


def _pct(value: float) -> str:
    return f"{value * 100:.4g}%"


# ---------------------------------------------------------------- baseline


def _num(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def _is_dense(frame: pd.DataFrame) -> pd.Series:
    method = frame["method"].astype(str).str.lower()
    return method.isin(DENSE_METHODS)


def baseline_keys(frame: pd.DataFrame) -> list[str]:
    """Columns that must match between a variant and its dense baseline."""
    return [*BASELINE_KEYS, *(["threads"] if "threads" in frame.columns else [])]


def _baseline_index(frame: pd.DataFrame, fp32: bool = False) -> pd.Series:
    """Index of the dense baseline row for each row (NaN where there is none).

    `fp32`: the baseline of every row is the dense fp32 model, whatever the row's dtype.
    """
    dense = frame[_is_dense(frame)]
    columns = baseline_keys(frame)
    if fp32:
        dense = dense[dense["dtype"].astype(str) == "fp32"]
        columns = [c for c in columns if c != "dtype"]
    plain = dense["format"].astype(str) == "dense"
    dense = pd.concat([dense[plain], dense[~plain]])
    keys = [tuple(r) for r in dense[columns].astype(str).to_numpy()]
    first: dict[tuple, object] = {}
    for key, idx in zip(keys, dense.index):
        first.setdefault(key, idx)
    rows = frame[columns].astype(str).to_numpy()
    return pd.Series([first.get(tuple(r), np.nan) for r in rows], index=frame.index)


def with_baseline(frame: pd.DataFrame, *, fp32: bool = False) -> pd.DataFrame:
    """Copy of `frame` with each row's dense baseline values and ratio bounds.

    Adds ``is_baseline``, ``base_*`` columns (energy, latency, accuracy, bytes, params)
    and ``energy_ratio``/``_low``/``_high`` and ``latency_ratio``/``_low``/``_high``.
    `fp32`: compare every row with the dense fp32 model instead of dense in its dtype.
    """
    out = frame.copy()
    if "dtype" not in out.columns:
        out["dtype"] = "fp32"
    base_idx = _baseline_index(out, fp32=fp32)
    out["is_baseline"] = [i == b for i, b in zip(out.index, base_idx)]
    sources = {
        "energy": "energy_per_inference_j",
        "energy_low": "energy_per_inference_ci_low_j",
        "energy_high": "energy_per_inference_ci_high_j",
        "latency": "latency_ms",
        "latency_low": "latency_ci_low_ms",
        "latency_high": "latency_ci_high_ms",
        "accuracy": "accuracy",
        "bytes": "format_bytes",
        "dense_bytes": "dense_bytes",
        "params": "params",
    }
    for name, column in sources.items():
        values = _num(out, column)
        out[f"base_{name}"] = [
            values.get(b, np.nan) if pd.notna(b) else np.nan for b in base_idx
        ]
    for quantity in ("energy", "latency"):
        value = _num(out, sources[quantity])
        base = out[f"base_{quantity}"].where(out[f"base_{quantity}"] > 0)
        out[f"{quantity}_ratio"] = value / base
        low, high = ratio_bounds(
            _num(out, sources[f"{quantity}_low"]),
            _num(out, sources[f"{quantity}_high"]),
            out[f"base_{quantity}_low"],
            out[f"base_{quantity}_high"],
        )
        out[f"{quantity}_ratio_low"], out[f"{quantity}_ratio_high"] = low, high
    return out


def ratio_bounds(
    low: pd.Series, high: pd.Series, base_low: pd.Series, base_high: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """[low / base_high, high / base_low]: every ratio both intervals allow.

    Energy and time cannot be negative, so interval ends below zero count as zero; a
    baseline interval that reaches zero leaves the upper bound infinite.
    """
    low, base_low = low.clip(lower=0.0), base_low.clip(lower=0.0)
    lower = low / base_high.where(base_high > 0)
    upper = (high / base_low.where(base_low > 0)).where(base_low.ne(0), np.inf)
    upper = upper.where(high.notna() & base_low.notna())
    return lower, upper


# ---------------------------------------------------------------- verdict helpers


def _interval_verdict(low: float, high: float) -> str:
    if math.isnan(low) or math.isnan(high):
        return INCONCLUSIVE
    if high < 1.0:
        return SUPPORTED
    if low >= 1.0:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def aggregate(verdicts: Iterable[str]) -> str:
    """Supported if any is, not supported if all are (and there is one), else neither."""
    items = list(verdicts)
    if SUPPORTED in items:
        return SUPPORTED
    if items and all(v == NOT_SUPPORTED for v in items):
        return NOT_SUPPORTED
    return INCONCLUSIVE


def _multi_setting(frame: pd.DataFrame) -> bool:
    keys = [k for k in baseline_keys(frame) if k in frame]
    return len(frame[keys].astype(str).drop_duplicates()) > 1


def _level_label(row: pd.Series, multi: bool) -> str:
    label = f"{_pct(float(row['target_sparsity']))} sparsity"
    if multi:
        label += (
            f" · {row['model']} · {row['device']} · batch {row['batch_size']}"
            f" · {row.get('dtype', 'fp32')}"
        )
    return label


def _variants(frame: pd.DataFrame) -> pd.DataFrame:
    data = with_baseline(frame)
    data = data[~data["is_baseline"] & ~_is_dense(data)]
    return data.sort_values(["method", "format", "target_sparsity"], kind="stable")


def _grouped_details(evidence: Sequence[Evidence], noun: str) -> tuple[str, str]:
    groups: dict[str, list[str]] = {}
    for item in evidence:
        groups.setdefault(item.group, []).append(item.verdict)
    verdicts = {g: aggregate(v) for g, v in groups.items()}
    if not verdicts:
        return INCONCLUSIVE, f"No sparse variant with a dense baseline to compare {noun}."
    parts = "; ".join(f"{g}: {v}" for g, v in verdicts.items())
    return aggregate(verdicts.values()), f"By method and format: {parts}."


_QUANTITY_COLUMNS = {
    "energy": ("energy_per_inference_j", "energy_per_inference_ci_low_j",
               "energy_per_inference_ci_high_j", "J", 1.0),
    "latency": ("latency_ms", "latency_ci_low_ms", "latency_ci_high_ms", "s", 1e-3),
}  # fmt: skip


def _versus(row: pd.Series, quantity: str) -> str:
    """'v (CI a to b) vs dense d (CI c to e)' in SI units."""
    column, low, high, unit, scale = _QUANTITY_COLUMNS[quantity]

    def text(v: float, lo: float, hi: float) -> str:
        values = [float(pd.to_numeric(x, errors="coerce")) * scale for x in (v, lo, hi)]
        return (
            f"{format_si(values[0], unit)} (CI {format_si(values[1], unit)} to "
            f"{format_si(values[2], unit)})"
        )

    mine = text(row.get(column), row.get(low), row.get(high))
    base = text(
        row[f"base_{quantity}"], row[f"base_{quantity}_low"], row[f"base_{quantity}_high"]
    )
    return f"{mine} vs dense {base}"


def _ratio_claim(frame: pd.DataFrame, quantity: str, claim_id: int, title: str) -> Claim:
    data = _variants(frame)
    multi = _multi_setting(frame)
    evidence = []
    for _, row in data.iterrows():
        low, high = row[f"{quantity}_ratio_low"], row[f"{quantity}_ratio_high"]
        note = _versus(row, quantity) if pd.notna(row[f"base_{quantity}"]) else ""
        note = note or "no dense baseline"
        evidence.append(
            Evidence(
                group=f"{row['method']} · {row['format']}",
                label=_level_label(row, multi),
                value=float(row[f"{quantity}_ratio"]),
                ci_low=float(low),
                ci_high=float(high),
                unit="× dense",
                verdict=_interval_verdict(float(low), float(high)),
                note=note,
            )
        )
    verdict, details = _grouped_details(evidence, quantity)
    return Claim(claim_id, title, verdict, tuple(evidence), details)


# ---------------------------------------------------------------- claims 1-3


def claim_energy(frame: pd.DataFrame) -> Claim:
    """Claim 1: sparsity reduces energy per inference (per method and format)."""
    title = "Sparsity reduces energy per inference"
    return _ratio_claim(frame, "energy", 1, title)


def claim_latency(frame: pd.DataFrame) -> Claim:
    """Claim 2: sparsity reduces latency."""
    return _ratio_claim(frame, "latency", 2, "Sparsity reduces latency")


def claim_storage(frame: pd.DataFrame) -> Claim:
    """Claim 3: sparsity reduces storage (format_bytes against the dense model's)."""
    data = _variants(frame)
    multi = _multi_setting(frame)
    evidence = []
    for _, row in data.iterrows():
        base = (
            row["base_bytes"] if pd.notna(row["base_bytes"]) else row["base_dense_bytes"]
        )
        size = pd.to_numeric(row.get("format_bytes"), errors="coerce")
        ratio = float(size) / float(base) if pd.notna(size) and base else math.nan
        verdict = INCONCLUSIVE
        if math.isfinite(ratio):
            verdict = SUPPORTED if ratio < 1.0 else NOT_SUPPORTED
        note = f"{format_si(float(size), 'B')} vs {format_si(float(base), 'B')}"
        evidence.append(
            Evidence(
                group=f"{row['method']} · {row['format']}",
                label=_level_label(row, multi),
                value=ratio,
                ci_low=None,
                ci_high=None,
                unit="× dense",
                verdict=verdict,
                note=note,
            )
        )
    verdict, details = _grouped_details(evidence, "storage")
    return Claim(3, "Sparsity reduces storage", verdict, tuple(evidence), details)


# ---------------------------------------------------------------- claim 4


def claim_accuracy(frame: pd.DataFrame, tolerance: float = 0.01) -> Claim:
    """Claim 4: sparsity costs accuracy; how much, and from which level on."""
    data = _variants(frame)
    data = data.assign(drop=data["base_accuracy"] - _num(data, "accuracy"))
    evidence, findings, verdicts = [], [], []
    for method, rows in data.groupby("method", sort=True):
        by_level = rows.groupby("target_sparsity")["drop"].max().sort_index()
        for level, drop in by_level.items():
            verdict = INCONCLUSIVE
            if math.isfinite(drop):
                verdict = SUPPORTED if drop > tolerance + _EPS else NOT_SUPPORTED
            evidence.append(
                Evidence(
                    group=str(method),
                    label=f"{_pct(float(level))} sparsity",
                    value=float(drop) * 100,
                    ci_low=None,
                    ci_high=None,
                    unit="points",
                    verdict=verdict,
                )
            )
        verdicts.append(aggregate(e.verdict for e in evidence if e.group == str(method)))
        findings.append(_accuracy_finding(str(method), by_level, tolerance))
    if not findings:
        return Claim(
            4,
            "Sparsity costs accuracy",
            INCONCLUSIVE,
            (),
            "No sparse variant with a dense baseline.",
        )
    verdict = aggregate(verdicts)
    return Claim(
        4, "Sparsity costs accuracy", verdict, tuple(evidence), " ".join(findings)
    )


def _accuracy_finding(method: str, drops: pd.Series, tolerance: float) -> str:
    finite = drops.dropna()
    if finite.empty:
        return f"{method}: accuracy not measured."
    worst_level = finite.idxmax()
    worst = f"largest drop {finite.max() * 100:.3g} points at {_pct(float(worst_level))}"
    over = finite[finite > tolerance + _EPS]
    if over.empty:
        return (
            f"{method}: no drop exceeds {tolerance * 100:.3g} point(s) up to "
            f"{_pct(float(finite.index.max()))} ({worst})."
        )
    return (
        f"{method}: the drop exceeds {tolerance * 100:.3g} point(s) from "
        f"{_pct(float(over.index.min()))} on, at {len(over)} of {len(finite)} "
        f"level(s) ({worst})."
    )


# ---------------------------------------------------------------- claim 5


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.std(x) < _EPS * max(1.0, np.abs(x).max()) or np.std(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def _fisher_ci(rho: float, n: int, spearman: bool) -> tuple[float, float]:
    if not math.isfinite(rho) or n <= 3:
        return math.nan, math.nan
    se = math.sqrt((1.06 if spearman else 1.0) / (n - 3))
    z = math.atanh(max(min(rho, 1 - 1e-12), -1 + 1e-12))
    return math.tanh(z - _Z95 * se), math.tanh(z + _Z95 * se)


def _largest_setting(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the model/device/batch/dtype setting with the most configurations."""
    data = frame.assign(dtype=frame.get("dtype", "fp32"))
    if data.empty:
        return data
    labels = data[baseline_keys(data)].astype(str).agg("|".join, axis=1)
    counts = labels.value_counts()
    best = next(v for v in labels if counts[v] == counts.max())
    return data[labels == best]


def claim_correlation(frame: pd.DataFrame) -> Claim:
    """Claim 5: energy per inference follows FLOPs or parameter count."""
    title = "Energy per inference follows FLOPs or parameter count"
    data = _largest_setting(frame)
    evidence, verdicts = [], []
    n_used = 0
    for predictor in ("flops_effective", "nonzero_params"):
        pair = pd.DataFrame(
            {"x": _num(data, predictor), "y": _num(data, "energy_per_inference_j")}
        ).dropna()
        n = len(pair)
        n_used = max(n_used, n)
        x, y = pair["x"].to_numpy(), pair["y"].to_numpy()
        pearson = _pearson(x, y)
        ranks = pair.rank(method="average")
        spearman = _pearson(ranks["x"].to_numpy(), ranks["y"].to_numpy())
        verdict = INCONCLUSIVE
        if n >= MIN_CORRELATION_POINTS and math.isfinite(spearman):
            verdict = SUPPORTED if spearman >= CORRELATION_THRESHOLD else NOT_SUPPORTED
        verdicts.append(verdict)
        for name, rho in (("Pearson r", pearson), ("Spearman rho", spearman)):
            low, high = _fisher_ci(rho, n, name.startswith("Spearman"))
            evidence.append(
                Evidence(
                    group=predictor,
                    label=f"{name} (n = {n})",
                    value=rho,
                    ci_low=low,
                    ci_high=high,
                    unit="",
                    verdict=verdict if "Spearman" in name else "",
                )
            )
    setting = "no data"
    if len(data):
        first = data.iloc[0]
        setting = (
            f"{first['model']} on {first['device']}, batch {first['batch_size']}, "
            f"{first['dtype']}"
        )
    verdict = aggregate(verdicts)
    if verdict == NOT_SUPPORTED and INCONCLUSIVE in verdicts:
        verdict = INCONCLUSIVE
    details = f"Computed over {n_used} configurations of {setting}."
    if n_used < MIN_CORRELATION_POINTS:
        details += f" Fewer than {MIN_CORRELATION_POINTS} points: no verdict."
    return Claim(5, title, verdict, tuple(evidence), details)


# ---------------------------------------------------------------- claim 6


def _keeps_all_weights(data: pd.DataFrame) -> pd.Series:
    params, base = _num(data, "params"), data["base_params"]
    known = params.notna() & base.notna()
    by_name = ~data["method"].astype(str).str.lower().str.contains("struct|channel")
    return (known & (params == base)) | (~known & by_name)


def claim_masked_null(frame: pd.DataFrame) -> Claim:
    """Claim 6: masked sparsity in dense format saves nothing (the expected null)."""
    title = "Masked sparsity in dense format saves nothing"
    data = _variants(frame)
    data = data[(data["format"].astype(str) == "dense") & _keeps_all_weights(data)]
    multi = _multi_setting(frame)
    evidence = []
    for _, row in data.iterrows():
        low, high = float(row["energy_ratio_low"]), float(row["energy_ratio_high"])
        energy = float(_num(row.to_frame().T, "energy_per_inference_j").iloc[0])
        verdict = INCONCLUSIVE
        if _interval_verdict(low, high) == SUPPORTED:
            verdict = NOT_SUPPORTED
        elif math.isfinite(row["base_energy_low"]) and energy >= row["base_energy_low"]:
            verdict = SUPPORTED
        evidence.append(
            Evidence(
                group=f"{row['method']} · dense",
                label=_level_label(row, multi),
                value=float(row["energy_ratio"]),
                ci_low=low,
                ci_high=high,
                unit="× dense",
                verdict=verdict,
            )
        )
    verdicts = [e.verdict for e in evidence]
    if not verdicts:
        return Claim(
            6, title, INCONCLUSIVE, (), "No masked variant in dense format was measured."
        )
    if NOT_SUPPORTED in verdicts:
        verdict = NOT_SUPPORTED
    elif all(v == SUPPORTED for v in verdicts):
        verdict = SUPPORTED
    else:
        verdict = INCONCLUSIVE
    saving = sum(v == NOT_SUPPORTED for v in verdicts)
    details = (
        f"{len(verdicts)} masked variant(s) in dense format; {saving} save "
        "energy beyond the confidence intervals."
    )
    return Claim(6, title, verdict, tuple(evidence), details)


# ---------------------------------------------------------------- all + summary


def all_claims(frame: pd.DataFrame, *, accuracy_tolerance: float = 0.01) -> list[Claim]:
    """The six claims of issue 5 and the precision claim of issue 9, in order."""
    from profiler.report.precision_claim import claim_precision

    return [
        claim_energy(frame),
        claim_latency(frame),
        claim_storage(frame),
        claim_accuracy(frame, accuracy_tolerance),
        claim_correlation(frame),
        claim_masked_null(frame),
        claim_precision(frame, accuracy_tolerance),
    ]


def variant_label(row: Mapping[str, object]) -> str:
    """Human label of one configuration, e.g. ``magnitude 90% csr (cpu, batch 64)``."""
    level = _pct(float(row["target_sparsity"]))
    return (
        f"{row['model']}: {row['method']} {level} {row['format']} "
        f"({row['device']}, batch {row['batch_size']}, {row.get('dtype', 'fp32')})"
    )


_SUMMARY_WORDS = {
    SUPPORTED: "lower than dense beyond the confidence intervals",
    NOT_SUPPORTED: "not lower than dense",
    INCONCLUSIVE: "not distinguishable from dense at 95%",
}


def summarize(frame: pd.DataFrame, tolerance: float = 0.01) -> Summary:
    """Lowest energy per inference among variants within `tolerance` of dense.

    Dense means the model as given: the dense fp32 row, for variants of every dtype.
    """
    data = with_baseline(frame, fp32=True)
    energy = _num(data, "energy_per_inference_j")
    ok = data["base_accuracy"] - _num(data, "accuracy") <= tolerance + _EPS
    ok |= data["is_baseline"]
    candidates = data[ok & energy.notna() & data["base_energy"].notna()]
    if candidates.empty:
        return Summary(False, "No configuration has both a dense baseline and energy.")
    best = candidates.loc[_num(candidates, "energy_per_inference_j").idxmin()]
    label = variant_label(best)
    ratio = float(best["energy_ratio"])
    low, high = float(best["energy_ratio_low"]), float(best["energy_ratio_high"])
    if best["is_baseline"]:
        text = (
            f"No sparse variant within {tolerance * 100:.3g} point(s) of dense "
            f"accuracy uses less energy than dense; lowest: {label}."
        )
    else:
        energy_text = format_si(float(best["energy_per_inference_j"]), "J")
        text = (
            f"Lowest energy per inference within {tolerance * 100:.3g} point(s) of "
            f"dense accuracy: {label}, {energy_text} = {ratio:.3g}× dense "
            f"(ratio bounds {_bound(low)} to {_bound(high)}: "
            f"{_SUMMARY_WORDS[_interval_verdict(low, high)]})."
        )
    return Summary(
        True,
        text,
        label,
        float(best["energy_per_inference_j"]),
        ratio,
        low,
        high,
        float(_num(best.to_frame().T, "accuracy").iloc[0]),
        float(best["base_accuracy"]),
        bool(best["is_baseline"]),
    )
