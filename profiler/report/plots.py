"""Inline SVG plots, written by hand so the package needs no plotting library.

`chart` draws points, lines and error bars for a list of `Series`; `bar_chart` draws
stacked horizontal bars. The functions below them turn result frames into those
inputs. Every piece of text is escaped, so model names from users cannot inject markup.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np
import pandas as pd

from profiler.report.claims import baseline_keys

__all__ = [
    "Point",
    "Series",
    "accuracy_vs_energy",
    "bar_chart",
    "chart",
    "domain_energy_j",
    "energy_by_domain",
    "energy_vs_accuracy_by_precision",
    "energy_vs_sparsity",
    "latency_vs_sparsity",
    "pareto_front",
    "power_timeline",
]

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
    "#F0E442",
)
MARKERS = ("circle", "square", "triangle", "diamond")
FORMAT_MARKERS = {"dense": "circle", "csr": "square", "auto": "triangle"}
DOMAIN_KINDS = {
    "package": "CPU package",
    "cpu": "CPU (estimate)",  # the estimate's one domain: no package was read
    "dram": "DRAM",
    "gpu": "GPU",
}
OVERLAP_PREFIXES = ("core", "uncore", "psys")
MAX_POINTS_PER_LINE = 600
WIDTH, HEIGHT = 720, 380
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 78, 24, 40, 52


@dataclass(frozen=True)
class Point:
    """One plotted value; ``y_low``/``y_high`` draw an error bar when given."""

    x: float
    y: float
    y_low: float | None = None
    y_high: float | None = None


@dataclass(frozen=True)
class Series:
    """A named set of points drawn with one colour and marker."""

    name: str
    points: tuple[Point, ...]
    color: str = PALETTE[0]
    marker: str | None = "circle"
    line: bool = True
    dashed: bool = False
    segments: tuple[tuple[Point, ...], ...] = field(default=())


# ---------------------------------------------------------------- primitives


def _t(text: object) -> str:
    return escape(str(text), quote=True)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def _fmt_tick(value: float) -> str:
    return f"{value:.6g}"


def si_scale(max_abs: float, unit: str) -> tuple[float, str]:
    """A factor and a prefixed unit so that values times factor read well."""
    for scale, prefix in ((1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""), (1e3, "k")):
        if math.isfinite(max_abs) and max_abs < scale * 1000:
            return 1 / scale, f"{prefix}{unit}"
    return 1e-3, f"k{unit}"


def _marker(shape: str, x: float, y: float, color: str, size: float = 4.5) -> str:
    fill = f'fill="{color}" stroke="#fff" stroke-width="0.8"'
    if shape == "square":
        s = size * 0.9
        return (
            f'<rect x="{x - s:.1f}" y="{y - s:.1f}" width="{2 * s:.1f}" '
            f'height="{2 * s:.1f}" {fill}/>'
        )
    if shape in ("triangle", "diamond"):
        s = size * 1.2
        if shape == "triangle":
            pts = [(x, y - s), (x + s, y + s * 0.8), (x - s, y + s * 0.8)]
        else:
            pts = [(x, y - s), (x + s, y), (x, y + s), (x - s, y)]
        text = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
        return f'<polygon points="{text}" {fill}/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size:.1f}" {fill}/>'


def _extent(values: Sequence[float], pad: float = 0.05) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    span = (high - low) or (abs(high) or 1.0)
    lower = low - span * pad
    return (max(lower, 0.0) if low >= 0 else lower), high + span * pad


def _legend(series: Sequence[Series], top: float) -> tuple[str, float]:
    parts, x, y = [], MARGIN_LEFT, top
    for item in series:
        width = 34 + 7 * len(item.name)
        if x + width > WIDTH - MARGIN_RIGHT and x > MARGIN_LEFT:
            x, y = MARGIN_LEFT, y + 18
        dash = ' stroke-dasharray="5 3"' if item.dashed else ""
        if item.line:
            parts.append(
                f'<line x1="{x}" y1="{y}" x2="{x + 22}" y2="{y}" '
                f'stroke="{item.color}" stroke-width="2"{dash}/>'
            )
        if item.marker:
            parts.append(_marker(item.marker, x + 11, y, item.color))
        parts.append(f'<text x="{x + 28}" y="{y + 4}">{_t(item.name)}</text>')
        x += width
    return "".join(parts), y + 18


def chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_format: Callable[[float], str] = _fmt_tick,
    y_format: Callable[[float], str] = _fmt_tick,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    bands: Sequence[tuple[float, float, str]] = (),
) -> str:
    """An SVG scatter/line chart with error bars, axes with labels and a legend.

    `bands` are horizontal ``(y_low, y_high, color)`` strips drawn behind the data.
    """
    xs = [p.x for s in series for p in s.points]
    ys = [v for s in series for p in s.points for v in (p.y, p.y_low, p.y_high)]
    ys += [v for band in bands for v in band[:2]]
    x_lo, x_hi = x_range or _extent(xs)
    y_lo, y_hi = y_range or _extent([v for v in ys if v is not None])
    x_ticks = nice_ticks(x_lo, x_hi)
    y_ticks = nice_ticks(y_lo, y_hi)
    x_lo, x_hi = min(x_lo, x_ticks[0]), max(x_hi, x_ticks[-1])
    y_lo, y_hi = min(y_lo, y_ticks[0]), max(y_hi, y_ticks[-1])
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def px(x: float) -> float:
        return MARGIN_LEFT + (x - x_lo) / ((x_hi - x_lo) or 1) * plot_w

    def py(y: float) -> float:
        return MARGIN_TOP + plot_h - (y - y_lo) / ((y_hi - y_lo) or 1) * plot_h

    body = [
        f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{plot_w}" '
        f'height="{plot_h}" fill="#fff" stroke="#999"/>'
    ]
    for low, high, color in bands:
        body.append(
            f'<rect x="{MARGIN_LEFT}" y="{py(high):.1f}" width="{plot_w}" '
            f'height="{max(py(low) - py(high), 1):.1f}" fill="{color}" '
            'fill-opacity="0.18"/>'
        )
    body += _axes(x_ticks, y_ticks, px, py, x_format, y_format, plot_h)
    for item in series:
        body += _draw_series(item, px, py)
    legend, bottom = _legend(series, HEIGHT + 8)
    return _svg(title, x_label, y_label, "".join(body) + legend, bottom + 4, plot_h)


def _axes(x_ticks, y_ticks, px, py, x_format, y_format, plot_h) -> list[str]:
    parts = []
    base = MARGIN_TOP + plot_h
    for tick in x_ticks:
        x = px(tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="{MARGIN_TOP}" x2="{x:.1f}" y2="{base}" '
            'class="grid"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">'
            f"{_t(x_format(tick))}</text>"
        )
    for tick in y_ticks:
        y = py(tick)
        parts.append(
            f'<line x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{WIDTH - MARGIN_RIGHT}"'
            f' y2="{y:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_t(y_format(tick))}</text>"
        )
    return parts


def _draw_series(item: Series, px, py) -> list[str]:
    parts = []
    dash = ' stroke-dasharray="5 3"' if item.dashed else ""
    lines = item.segments or ((item.points,) if item.line else ())
    for segment in lines:
        finite = [p for p in segment if math.isfinite(p.x) and math.isfinite(p.y)]
        if len(finite) > 1:
            text = " ".join(f"{px(p.x):.1f},{py(p.y):.1f}" for p in finite)
            parts.append(
                f'<polyline points="{text}" fill="none" stroke="{item.color}" '
                f'stroke-width="1.8"{dash}/>'
            )
    for p in item.points:
        if not (math.isfinite(p.x) and math.isfinite(p.y)):
            continue
        if p.y_low is not None and p.y_high is not None and math.isfinite(p.y_low):
            x = px(p.x)
            parts.append(
                f'<path d="M{x - 4:.1f},{py(p.y_low):.1f}h8M{x:.1f},{py(p.y_low):.1f}'
                f'V{py(p.y_high):.1f}M{x - 4:.1f},{py(p.y_high):.1f}h8" '
                f'stroke="{item.color}" stroke-width="1.3" fill="none"/>'
            )
        if item.marker:
            parts.append(_marker(item.marker, px(p.x), py(p.y), item.color))
    return parts


def _svg(
    title: str,
    x_label: str,
    y_label: str,
    body: str,
    height: float,
    plot_h: float,
    x_mid: float = MARGIN_LEFT + (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / 2,
) -> str:
    mid_y = MARGIN_TOP + plot_h / 2
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'width="{WIDTH}" height="{height:.0f}" role="img" aria-label="{_t(title)}" '
        'class="plot" font-family="sans-serif" font-size="11">'
        f"<title>{_t(title)}</title>"
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14" '
        f'font-weight="bold">{_t(title)}</text>'
        f"{body}"
        f'<text x="{x_mid:.0f}" '
        f'y="{MARGIN_TOP + plot_h + 36}" text-anchor="middle">{_t(x_label)}</text>'
        f'<text transform="translate(16 {mid_y:.0f}) rotate(-90)" '
        f'text-anchor="middle">{_t(y_label)}</text></svg>'
    )


def bar_chart(
    labels: Sequence[str],
    stacks: Mapping[str, Sequence[float]],
    *,
    title: str,
    x_label: str,
    x_format: Callable[[float], str] = _fmt_tick,
) -> str:
    """Stacked horizontal bars: one bar per label, one segment per key of `stacks`."""
    left, row_h = 250, 22
    names = list(stacks)
    totals = [sum(stacks[n][i] for n in names) for i in range(len(labels))]
    ticks = nice_ticks(0.0, max(totals, default=1.0) or 1.0)
    plot_w = WIDTH - left - MARGIN_RIGHT
    plot_h = row_h * max(len(labels), 1)
    top = MARGIN_TOP

    def px(x: float) -> float:
        return left + x / (ticks[-1] or 1) * plot_w

    parts = []
    for tick in ticks:
        parts.append(
            f'<line x1="{px(tick):.1f}" y1="{top}" x2="{px(tick):.1f}" '
            f'y2="{top + plot_h}" class="grid"/><text x="{px(tick):.1f}" '
            f'y="{top + plot_h + 16}" text-anchor="middle">'
            f"{_t(x_format(tick))}</text>"
        )
    for i, label in enumerate(labels):
        y, x = top + i * row_h, 0.0
        parts.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{_t(label)}</text>'
        )
        for j, name in enumerate(names):
            value = stacks[name][i]
            parts.append(
                f'<rect x="{px(x):.1f}" y="{y + 3}" width="{px(value) - left:.1f}"'
                f' height="{row_h - 6}" fill="{PALETTE[j % len(PALETTE)]}">'
                f"<title>{_t(name)}: {_t(x_format(value))}</title></rect>"
            )
            x += value
    series = [
        Series(n, (), PALETTE[j % len(PALETTE)], "square", line=False)
        for j, n in enumerate(names)
    ]
    height = top + plot_h + MARGIN_BOTTOM
    legend, bottom = _legend(series, height)
    body = "".join(parts) + legend
    return _svg(title, x_label, "", body, bottom + 4, plot_h, left + plot_w / 2)


# ---------------------------------------------------------------- frames -> plots


def _settings(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(title, rows) per model, device, batch size and dtype (and threads if given)."""
    data = frame.assign(dtype=frame.get("dtype", "fp32"))
    if data.empty:
        return []
    keys = baseline_keys(data)
    labels = data[keys].astype(str).agg("|".join, axis=1)
    out = []
    for label in dict.fromkeys(labels):
        rows = data[labels == label]
        first = rows.iloc[0]
        title = f"{first['model']}, {first['device']}, batch {first['batch_size']}, "
        title += str(first["dtype"])
        if "threads" in keys and pd.notna(first["threads"]):
            title += f", {first['threads']} threads"
        out.append((title, rows))
    return out


def _num(rows: pd.DataFrame, column: str) -> np.ndarray:
    if column not in rows:
        return np.full(len(rows), np.nan)
    return pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)


def _pct_tick(value: float) -> str:
    return f"{value * 100:.4g}%"


def _vs_sparsity(
    frame: pd.DataFrame, column: str, low: str, high: str, unit: str, what: str
) -> list[str]:
    svgs = []
    for setting, rows in _settings(frame):
        factor, scaled_unit = si_scale(np.nanmax(np.abs(_num(rows, column))), unit)
        dense_mask = rows["method"].astype(str).str.lower().isin({"dense", "none"})
        bands, series = [], []
        for _, base in rows[dense_mask].iterrows():
            lo, hi = (
                float(pd.to_numeric(base.get(c), errors="coerce")) for c in (low, high)
            )
            if math.isfinite(lo) and math.isfinite(hi):
                bands.append((max(lo, 0.0) * factor, hi * factor, "#777"))
        groups = rows[~dense_mask].groupby(["method", "format"], sort=True)
        for i, ((method, fmt), part) in enumerate(groups):
            part = part.sort_values("target_sparsity")
            values = [_num(part, c) * factor for c in (column, low, high)]
            values[1] = np.clip(values[1], 0.0, None)  # energy and time are >= 0
            points = tuple(
                Point(float(x), float(y), float(lo), float(hi))
                for x, y, lo, hi in zip(_num(part, "target_sparsity"), *values)
            )
            series.append(
                Series(
                    f"{method} · {fmt}",
                    points,
                    PALETTE[i % len(PALETTE)],
                    FORMAT_MARKERS.get(str(fmt), MARKERS[i % 4]),
                )
            )
        dense_rows = rows[dense_mask]
        if len(dense_rows):
            y = float(_num(dense_rows, column)[0] * factor)
            series.insert(
                0,
                Series(
                    "dense (band: 95% CI)",
                    (Point(0.0, y),),
                    "#555",
                    "diamond",
                    line=False,
                ),
            )
        svgs.append(
            chart(
                series,
                title=f"{what} vs sparsity — {setting}",
                x_label="target sparsity (fraction of weights zero or removed)",
                y_label=f"{what} ({scaled_unit})",
                x_format=_pct_tick,
                x_range=(0.0, 1.0),
                bands=bands,
            )
        )
    return svgs


def energy_vs_sparsity(frame: pd.DataFrame) -> list[str]:
    """Energy per inference against target sparsity, per method and format, with CIs."""
    return _vs_sparsity(
        frame,
        "energy_per_inference_j",
        "energy_per_inference_ci_low_j",
        "energy_per_inference_ci_high_j",
        "J",
        "energy per inference",
    )


def latency_vs_sparsity(frame: pd.DataFrame) -> list[str]:
    """Latency per batch against target sparsity, per method and format, with CIs."""
    frame = frame.assign(
        **{
            c: pd.to_numeric(frame.get(c), errors="coerce") / 1000
            for c in ("latency_ms", "latency_ci_low_ms", "latency_ci_high_ms")
        }
    )
    return _vs_sparsity(
        frame,
        "latency_ms",
        "latency_ci_low_ms",
        "latency_ci_high_ms",
        "s",
        "latency per batch",
    )


def pareto_front(energy: Sequence[float], accuracy: Sequence[float]) -> list[int]:
    """Indices of the points that no other point beats on energy and accuracy."""
    order = sorted(
        (e, -a, i)
        for i, (e, a) in enumerate(zip(energy, accuracy))
        if math.isfinite(e) and math.isfinite(a)
    )
    front, best = [], -math.inf
    for _, neg_acc, i in order:
        if -neg_acc > best:
            front.append(i)
            best = -neg_acc
    return front


def accuracy_vs_energy(frame: pd.DataFrame) -> list[str]:
    """Accuracy against energy per inference per variant, Pareto front marked."""
    svgs = []
    for setting, rows in _settings(frame):
        energy, accuracy = _num(rows, "energy_per_inference_j"), _num(rows, "accuracy")
        if not np.isfinite(accuracy).any():
            continue
        factor, unit = si_scale(np.nanmax(np.abs(energy)), "J")
        front = pareto_front(list(energy), list(accuracy))
        series = []
        for i, (method, part) in enumerate(rows.groupby("method", sort=True)):
            idx = [rows.index.get_loc(k) for k in part.index]
            points = tuple(Point(energy[j] * factor, accuracy[j] * 100) for j in idx)
            series.append(
                Series(
                    str(method),
                    points,
                    PALETTE[i % len(PALETTE)],
                    MARKERS[i % 4],
                    line=False,
                )
            )
        points = tuple(Point(energy[j] * factor, accuracy[j] * 100) for j in front)
        series.append(Series("Pareto front", points, "#000", None, dashed=True))
        svgs.append(
            chart(
                series,
                title=f"accuracy vs energy per inference — {setting}",
                x_label=f"energy per inference ({unit})",
                y_label="accuracy (%)",
                y_range=_accuracy_range(accuracy * 100),
            )
        )
    return svgs


DTYPE_ORDER = ("fp32", "bf16", "fp16", "int8")


def _precision_settings(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(title, rows) per model, device and batch size, every dtype together."""
    keys = [k for k in ("model", "device", "batch_size") if k in frame]
    labels = frame[keys].astype(str).agg(", ".join, axis=1)
    return [(label, frame[labels == label]) for label in dict.fromkeys(labels)]


def energy_vs_accuracy_by_precision(frame: pd.DataFrame) -> list[str]:
    """Energy per inference (95% CI bars) against accuracy, one colour per dtype and
    one marker per method; drawn only when the run has more than one dtype."""
    if frame.empty or "dtype" not in frame or frame["dtype"].nunique() < 2:
        return []
    dtypes = sorted(map(str, frame["dtype"].unique()), key=_dtype_rank)
    methods = sorted(map(str, frame["method"].unique()))
    svgs = []
    for setting, rows in _precision_settings(frame):
        energy, accuracy = _num(rows, "energy_per_inference_j"), _num(rows, "accuracy")
        if not np.isfinite(accuracy).any():
            continue
        factor, unit = si_scale(np.nanmax(np.abs(energy)), "J")
        low = _num(rows, "energy_per_inference_ci_low_j") * factor
        high = _num(rows, "energy_per_inference_ci_high_j") * factor
        series = []
        for (dtype, method), part in rows.groupby(["dtype", "method"], sort=False):
            idx = [rows.index.get_loc(k) for k in part.index]
            points = tuple(
                Point(accuracy[j] * 100, energy[j] * factor, low[j], high[j]) for j in idx
            )
            color = PALETTE[dtypes.index(str(dtype)) % len(PALETTE)]
            marker = MARKERS[methods.index(str(method)) % len(MARKERS)]
            series.append(Series(f"{dtype} · {method}", points, color, marker, False))
        series.sort(key=lambda s: (_dtype_rank(s.name.split(" · ")[0]), s.name))
        svgs.append(
            chart(
                series,
                title=f"energy per inference vs accuracy by precision — {setting}",
                x_label="accuracy (%)",
                y_label=f"energy per inference ({unit})",
                x_range=_accuracy_range(accuracy * 100),
            )
        )
    return svgs


def _dtype_rank(dtype: str) -> tuple[int, str]:
    order = DTYPE_ORDER.index(dtype) if dtype in DTYPE_ORDER else len(DTYPE_ORDER)
    return order, dtype


def _accuracy_range(percent: np.ndarray) -> tuple[float, float]:
    low, high = _extent(list(percent))
    return max(low, 0.0), min(high, 100.0)


def domain_energy_j(row: Mapping[str, object]) -> dict[str, float]:
    """Energy per inference by kind of domain (CPU package or estimate, DRAM, GPU).

    The stored ``energy_by_domain`` JSON gives each counted domain's share; shares are
    scaled to the row's energy per inference. Overlapping domains (core, uncore, psys)
    are not counted. Values that are dicts use their first ``*_j`` number.
    """
    try:
        raw = json.loads(str(row.get("energy_by_domain") or "{}"))
    except json.JSONDecodeError:
        return {}
    if not isinstance(raw, dict):
        return {}
    kinds: dict[str, float] = {}
    for name, value in raw.items():
        if isinstance(value, dict):
            value = next((v for k, v in value.items() if str(k).endswith("_j")), None)
        if str(name).startswith(OVERLAP_PREFIXES) or not isinstance(value, int | float):
            continue
        kind = DOMAIN_KINDS.get(str(name).split("-")[0], "other")
        kinds[kind] = kinds.get(kind, 0.0) + float(value)
    total = sum(kinds.values())
    energy = float(pd.to_numeric(row.get("energy_per_inference_j"), errors="coerce"))
    if total <= 0 or not math.isfinite(energy):
        return {}
    return {k: v / total * energy for k, v in kinds.items()}


def _short_label(row: pd.Series, multi: bool) -> str:
    label = f"{row['method']} {_pct_tick(float(row['target_sparsity']))} {row['format']}"
    if multi:
        label += f" · {row['device']} b{row['batch_size']} {row.get('dtype', '')}"
    return label


def energy_by_domain(frame: pd.DataFrame) -> str:
    """Stacked bars of energy per inference by domain, one bar per configuration."""
    multi = len(_settings(frame)) > 1
    rows = [(_short_label(r, multi), domain_energy_j(r)) for _, r in frame.iterrows()]
    rows = [(label, parts) for label, parts in rows if parts]
    if not rows:
        return ""
    kinds = [
        k
        for k in ("CPU package", "CPU (estimate)", "DRAM", "GPU", "other")
        if any(k in parts for _, parts in rows)
    ]
    top = max(sum(parts.values()) for _, parts in rows)
    factor, unit = si_scale(top, "J")
    stacks = {k: [parts.get(k, 0.0) * factor for _, parts in rows] for k in kinds}
    labels = [label[:44] for label, _ in rows]
    return bar_chart(
        labels,
        stacks,
        title="energy per inference by domain",
        x_label=f"energy per inference ({unit})",
    )


def _global_time(timeline: pd.DataFrame) -> pd.Series:
    """Time in seconds from the first sample; per-window clocks are laid end to end."""
    time_s = pd.to_numeric(timeline["time_s"], errors="coerce").astype(float)
    if time_s.min() > 1e8:  # unix seconds: one clock for all windows
        return time_s - time_s.min()
    keys = [k for k in ("config_key", "window") if k in timeline]
    if not keys:
        return time_s - time_s.min()
    out, offset = time_s.copy(), 0.0
    for _, idx in timeline.groupby(keys, sort=False).groups.items():
        part = time_s.loc[idx]
        out.loc[idx] = part - part.min() + offset
        offset += float(part.max() - part.min()) + 0.05
    return out


def power_timeline(timeline: pd.DataFrame) -> str:
    """Power over time for every measured window, one line per domain."""
    if timeline is None or timeline.empty or "power_w" not in timeline:
        return ""
    data = timeline.assign(t=_global_time(timeline))
    keys = [k for k in ("config_key", "window") if k in data]
    series = []
    for i, (domain, part) in enumerate(data.groupby("domain", sort=True)):
        step = max(1, len(part) // MAX_POINTS_PER_LINE)
        segments = []
        chunks = part.groupby(keys, sort=False) if keys else [(None, part)]
        for _, chunk in chunks:
            chunk = chunk.sort_values("t").iloc[::step]
            segments.append(
                tuple(
                    Point(float(t), float(p))
                    for t, p in zip(chunk["t"], chunk["power_w"])
                )
            )
        points = tuple(p for seg in segments for p in seg)
        source = ", ".join(sorted(set(part.get("source", pd.Series(["?"])).astype(str))))
        series.append(
            Series(
                f"{domain} ({source})",
                points,
                PALETTE[i % len(PALETTE)],
                None,
                segments=tuple(segments),
            )
        )
    return chart(
        series,
        x_range=(0.0, float(data["t"].max()) or 1.0),
        title="power over time, measured windows",
        x_label="time since the first window (s)",
        y_label="power (W)",
    )
