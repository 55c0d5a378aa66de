"""The HTML report: one self-contained page (inline CSS and SVG, no scripts, no loads).

`load_run` is the only function that reads files; it goes through `profiler.store` and
`profiler.tables`. Everything after it works on frames, so tests can render pages from
frames they build themselves.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from profiler.errors import ConfigError, DataError
from profiler.report import claims as claims_mod
from profiler.report import plots
from profiler.report.claims import CONFIG_KEYS, RULES, Claim, format_si, variant_label

__all__ = ["RunData", "compare", "load_run", "render_page", "render_report"]

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
METADATA_ORDER = ("hardware", "software", "sensors", "settings", "carbon")
SOURCE_CAVEATS = {
    "rapl": (
        "RAPL (Linux powercap) energy counters: CPU package, and DRAM where the CPU "
        "exposes it (AMD does not). They cover the whole socket, so other work on the "
        "machine is counted too; updated about every millisecond."
    ),
    "nvml": (
        "NVML total-energy counter of the GPU (millijoules, updated every 20 to 100 "
        "ms). Where only power is available it is a one-second average; on A100/H100 "
        "power sampling sees only part of the runtime. MIG slices have no power."
    ),
    "estimate": (
        "Estimate: CPU time multiplied by the processor's TDP share. It is not a "
        "measurement; it cannot tell a sparse kernel's power from a dense one's."
    ),
}
#: Claims whose evidence is energy: with estimated figures each carries a marker.
ENERGY_CLAIMS = frozenset({1, 5, 6, 7})
ESTIMATE_MARK = "estimate"
ESTIMATE_NOTE = (
    "Energy figures are estimates (CPU time x a TDP share), not measurements; the "
    "verdict rests on them."
)
ESTIMATE_BANNER = (
    "Figures are estimates from CPU time and TDP, not measurements: no energy "
    "counter (RAPL or NVML) was readable on this machine."
)


@dataclass(frozen=True)
class RunData:
    """One run's tables, as read from its results database."""

    path: Path
    results: pd.DataFrame
    timeline: pd.DataFrame = field(default_factory=pd.DataFrame)
    metadata: Mapping[str, Any] = field(default_factory=dict)


def load_run(path: str | Path) -> RunData:
    """Read a runs.sqlite (or a folder holding one) through `profiler.tables`."""
    from profiler import store, tables

    db_path = store.resolve_db(Path(path))
    if not db_path.is_file():
        raise DataError(
            f"{path}: no results database here; pass a runs.sqlite or the --out folder "
            "of `energy-profiler profile`"
        )
    return RunData(
        db_path,
        tables.results_frame(db_path),
        tables.timeline_frame(db_path),
        store.read_metadata(db_path),
    )


# ---------------------------------------------------------------- formatting


def _cell(value: Any) -> tuple[str, str, bool]:
    """(shown text, exact value, is a number) for a table cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "", "", False
    if isinstance(value, bool | str):
        return str(value), str(value), False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value), str(value), False
    if math.isnan(number):
        return "", "", False
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number)}", repr(number), True
    return f"{number:.4g}", repr(number), True


def _ratio(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return "∞" if math.isinf(value) else f"{value:.3g}"


def _evidence_value(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "n/a"
    if unit.startswith("× dense"):  # "× dense", "× dense fp32"
        return f"{value:.3g}×"
    if unit == "points":
        return f"{value:.3g} points"
    return f"{value:+.3f}"


def _interval(low: float | None, high: float | None, unit: str) -> str:
    if low is None or high is None:
        return "exact" if unit == "× dense" else "no CI"
    if math.isnan(low) or math.isnan(high):
        return "n/a"
    if unit.startswith("× dense"):
        return f"{_ratio(low)}× to {_ratio(high)}×"
    return f"{low:+.3f} to {high:+.3f}"


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        out: list[tuple[str, str]] = []
        for key, item in value.items():
            out += _flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
        out = []
        for i, item in enumerate(value):
            out += _flatten(item, f"{prefix}[{i}]")
        return out
    if isinstance(value, list):
        return [(prefix, ", ".join(str(v) for v in value))]
    return [(prefix, "" if value is None else str(value))]


def metadata_sections(meta: Mapping[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The run metadata as (section, [(key, value)]) with the usual sections first."""
    keys = [k for k in METADATA_ORDER if k in meta]
    keys += [k for k in meta if k not in keys and isinstance(meta[k], Mapping | list)]
    other = {k: v for k, v in meta.items() if k not in keys}
    sections = [(k, _flatten(meta[k])) for k in keys]
    if other:
        sections.append(("run", _flatten(other)))
    return sections


def _sources(run: RunData) -> list[str]:
    names: set[str] = set()
    for frame in (run.results, run.timeline):
        if "source" in frame:
            for value in frame["source"].dropna().astype(str):
                names.update(p for p in value.split("+") if p)
    return sorted(names)


# ---------------------------------------------------------------- page parts


def _claim_view(claim: Claim, estimate: bool = False) -> dict[str, Any]:
    rows = [
        {
            "group": e.group,
            "label": e.label,
            "value": _evidence_value(e.value, e.unit),
            "exact": "" if not math.isfinite(e.value) else repr(e.value),
            "interval": _interval(e.ci_low, e.ci_high, e.unit),
            "verdict": e.verdict,
            "note": e.note,
        }
        for e in claim.evidence
    ]
    return {
        "claim": claim,
        "rule": RULES[claim.id],
        "rows": rows,
        "estimate": estimate and claim.id in ENERGY_CLAIMS,
    }


def _table(frame: pd.DataFrame) -> dict[str, Any]:
    columns = list(frame.columns)
    rows = [[_cell(v) for v in record] for record in frame.itertuples(index=False)]
    return {"columns": columns, "rows": rows}


HARDWARE_COLUMNS = ("device", "batch_size", "dtype", "energy_per_inference_j",
                    "latency_ms", "accuracy", "source", "node")  # fmt: skip


def by_hardware(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One table per kind of hardware (CPU model, plus the GPU for CUDA rows)."""
    if frame.empty or "node_hardware" not in frame:
        return []
    groups = []
    kinds = frame["node_hardware"].fillna("unknown hardware")
    for kind, part in frame.groupby(kinds, sort=True):
        shown = part[[c for c in HARDWARE_COLUMNS if c in part]]
        shown.insert(0, "variant", [variant_label(r) for _, r in part.iterrows()])
        nodes = sorted({str(n) for n in part["node"].dropna()})
        sensors = sorted({str(s) for s in part.get("node_sensors", []) if s})
        groups.append(
            {"hardware": kind, "nodes": nodes, "sensors": sensors, "table": _table(shown)}
        )
    return groups


def _run_order(frame: pd.DataFrame) -> list[tuple[str, str]]:
    if "order_index" not in frame:
        return []
    data = frame.sort_values("order_index", kind="stable")
    return [(_cell(r["order_index"])[0], variant_label(r)) for _, r in data.iterrows()]


def _plots(run: RunData) -> list[dict[str, Any]]:
    figures = [
        ("Energy per inference against sparsity", plots.energy_vs_sparsity(run.results)),
        ("Accuracy against energy per inference", plots.accuracy_vs_energy(run.results)),
        (
            "Energy per inference against accuracy, by precision",
            plots.energy_vs_accuracy_by_precision(run.results),
        ),
        ("Latency against sparsity", plots.latency_vs_sparsity(run.results)),
        ("Energy by domain", [plots.energy_by_domain(run.results)]),
        ("Power over time", [plots.power_timeline(run.timeline)]),
    ]
    return [
        {"title": title, "svgs": [Markup(s) for s in svgs if s]}
        for title, svgs in figures
    ]


def _dedupe(frame: pd.DataFrame) -> pd.DataFrame:
    data = frame.assign(dtype=frame.get("dtype", "fp32"))
    return data.drop_duplicates(list(CONFIG_KEYS), keep="first")


def compare(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """The second run against the first, per matching configuration, as ratios.

    Configurations match on model, method, target_sparsity, format, device, batch_size
    and dtype. Energy ratio bounds combine both runs' 95% CIs as in the claims.
    """
    wanted = [
        "energy_per_inference_j",
        "energy_per_inference_ci_low_j",
        "energy_per_inference_ci_high_j",
        "latency_ms",
        "throughput_ips",
        "avg_power_w",
        "accuracy",
    ]
    a, b = (
        _dedupe(f)[[*CONFIG_KEYS, *[c for c in wanted if c in f]]].copy()
        for f in (first, second)
    )
    for frame in (a, b):
        for column in wanted:
            frame[column] = pd.to_numeric(frame.get(column), errors="coerce")
        frame["target_sparsity"] = frame["target_sparsity"].astype(float).round(6)
        for column in ("model", "method", "format", "device", "batch_size", "dtype"):
            frame[column] = frame[column].astype(str)
    merged = a.merge(b, on=list(CONFIG_KEYS), suffixes=("_a", "_b"))
    out = merged[list(CONFIG_KEYS)].copy()
    e = "energy_per_inference"
    out["energy_a_j"] = merged[f"{e}_j_a"]
    out["energy_b_j"] = merged[f"{e}_j_b"]
    out["energy_ratio"] = merged[f"{e}_j_b"] / merged[f"{e}_j_a"]
    out["energy_ratio_low"] = merged[f"{e}_ci_low_j_b"] / merged[f"{e}_ci_high_j_a"]
    out["energy_ratio_high"] = merged[f"{e}_ci_high_j_b"] / merged[f"{e}_ci_low_j_a"]
    for column in ("latency_ms", "throughput_ips", "avg_power_w"):
        out[f"{column}_ratio"] = merged[f"{column}_b"] / merged[f"{column}_a"]
    out["accuracy_delta_points"] = (merged["accuracy_b"] - merged["accuracy_a"]) * 100
    return out


def _metadata_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[tuple[str, ...]]:
    flat_a, flat_b = dict(_flatten(a)), dict(_flatten(b))
    skip = ("run_id", "started", "finished", "status", "time")
    keys = [k for k in dict.fromkeys([*flat_a, *flat_b]) if not k.endswith(skip)]
    return [
        (k, flat_a.get(k, "—"), flat_b.get(k, "—"))
        for k in keys
        if flat_a.get(k) != flat_b.get(k)
    ]


def _comparison(base: RunData, other: RunData, tolerance: float) -> dict[str, Any]:
    table = compare(base.results, other.results)
    rows = []
    for _, r in table.iterrows():
        rows.append(
            {
                "label": variant_label(r),
                "energy_a": format_si(r["energy_a_j"], "J"),
                "energy_b": format_si(r["energy_b_j"], "J"),
                "ratio": _ratio(r["energy_ratio"]),
                "exact": repr(float(r["energy_ratio"])),
                "bounds": f"{_ratio(r['energy_ratio_low'])} to "
                f"{_ratio(r['energy_ratio_high'])}",
                "latency": _ratio(r["latency_ms_ratio"]),
                "throughput": _ratio(r["throughput_ips_ratio"]),
                "power": _ratio(r["avg_power_w_ratio"]),
                "accuracy": _ratio(r["accuracy_delta_points"]),
            }
        )
    verdicts = zip(
        claims_mod.all_claims(base.results, accuracy_tolerance=tolerance),
        claims_mod.all_claims(other.results, accuracy_tolerance=tolerance),
    )
    return {
        "base": str(base.path),
        "other": str(other.path),
        "rows": rows,
        "unmatched": max(len(base.results), len(other.results)) - len(rows),
        "verdicts": [(a.id, a.title, a.verdict, b.verdict) for a, b in verdicts],
        "metadata": _metadata_diff(base.metadata, other.metadata)[:40],
    }


# ---------------------------------------------------------------- page


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["si"] = format_si
    return env


def render_page(runs: Sequence[RunData], *, accuracy_tolerance: float = 0.01) -> str:
    """The report page as a string; the first run is reported, later ones compared."""
    if not runs:
        raise ConfigError("report: no run given; pass a runs.sqlite or an output folder")
    runs = [dataclasses.replace(r, results=numeric_columns(r.results)) for r in runs]
    run = runs[0]
    frame = run.results
    sources = _sources(run)
    estimate = "estimate" in sources
    context = {
        "title": _title(frame),
        "runs": [str(r.path) for r in runs],
        "estimate": estimate,
        "banner": ESTIMATE_BANNER,
        "estimate_mark": ESTIMATE_MARK,
        "estimate_note": ESTIMATE_NOTE,
        "summary": claims_mod.summarize(frame, accuracy_tolerance),
        "tolerance_points": accuracy_tolerance * 100,
        "claims": [
            _claim_view(c, estimate)
            for c in claims_mod.all_claims(frame, accuracy_tolerance=accuracy_tolerance)
        ],
        "plots": _plots(run),
        "table": _table(frame),
        "hardware": by_hardware(frame),
        "sources": [(s, SOURCE_CAVEATS.get(s, "no caveat recorded")) for s in sources],
        "metadata": metadata_sections(run.metadata),
        "run_order": _run_order(frame),
        "comparisons": [
            _comparison(run, other, accuracy_tolerance) for other in runs[1:]
        ],
        "empty": frame.empty,
    }
    return _environment().get_template("report.html.j2").render(**context)


def numeric_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers stored with gaps (None: no CI from one repeat) as floats with NaN."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype != object:
            continue
        converted = pd.to_numeric(values, errors="coerce").astype(float)
        if converted.notna().sum() == values.notna().sum():
            out[column] = converted
    return out


def _title(frame: pd.DataFrame) -> str:
    if frame.empty or "model" not in frame:
        return "Energy report"
    models = ", ".join(dict.fromkeys(frame["model"].astype(str)))
    return f"Energy report: {models}"


def render_report(
    runs: list[Path], out: Path, *, accuracy_tolerance: float = 0.01
) -> Path:
    """Render the report of `runs` (databases or folders) to `out`; returns `out`.

    One run gives the report; with more, each later run is compared with the first.
    """
    if not runs:
        raise ConfigError("report: no run given; pass a runs.sqlite or an output folder")
    if not 0 <= accuracy_tolerance < 1:
        raise ConfigError(
            f"accuracy tolerance {accuracy_tolerance}: give a fraction in [0, 1), "
            "e.g. 0.01 for one point"
        )
    page = render_page([load_run(p) for p in runs], accuracy_tolerance=accuracy_tolerance)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    logger.info("report written to %s", out)
    return out
