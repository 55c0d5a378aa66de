"""Measure one configuration: warm-up, then repeated measurement windows.

A configuration is one model variant on one device at one batch size. Each window runs a
whole number of batches on data already on the device, long enough that the sensors'
resolution and update period do not matter, inside one `Profiler.window`. The summary
gives per-inference energy (gross and net of idle), latency, throughput and average
power, each with a 95% Student-t confidence interval across repeats.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from profiler.errors import ConfigError

__all__ = [
    "DENSE_METHOD",
    "Config",
    "ConfigSummary",
    "Target",
    "WindowResult",
    "default_min_window_s",
    "mean_ci95",
    "measure_config",
    "measure_window",
    "summarize",
    "t_quantile_975",
    "warm_up",
]

logger = logging.getLogger(__name__)

DENSE_METHOD = "dense"  # the method name of the unpruned baseline
MIN_WINDOW_FLOOR_S = 0.5
NVML_MIN_WINDOW_S = 5.0
UPDATE_PERIODS_PER_WINDOW = 100
CHUNKS_PER_WINDOW = 10

# Two-sided 95% Student-t quantiles t(0.975, df) for df = 1..30.
_T975 = (
    12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836,
    2.446911851, 2.364624252, 2.306004135, 2.262157163, 2.228138852,
    2.200985160, 2.178812830, 2.160368656, 2.144786688, 2.131449546,
    2.119905299, 2.109815578, 2.100922040, 2.093024054, 2.085963447,
    2.079613845, 2.073873068, 2.068657610, 2.063898562, 2.059538553,
    2.055529439, 2.051830516, 2.048407142, 2.045229642, 2.042272456,
)  # fmt: skip
_Z975 = 1.959963984540054


def t_quantile_975(df: int) -> float:
    """t(0.975, df): the table for df <= 30, the Cornish-Fisher series beyond (<1e-7)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    terms = (
        (z**3 + z) / 4,
        (5 * z**5 + 16 * z**3 + 3 * z) / 96,
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
        (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160,
    )
    return z + sum(term / df ** (i + 1) for i, term in enumerate(terms))


def mean_ci95(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 95% Student-t interval of the mean (NaN bounds below 2 values)."""
    if not values:
        return math.nan, math.nan, math.nan
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = t_quantile_975(len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class Config:
    """One measured configuration; `key()` identifies it across runs (for --resume)."""

    model: str
    method: str
    target_sparsity: float
    format: str
    device: str
    batch_size: int
    dtype: str = "fp32"
    threads: int | None = None

    def key(self) -> str:
        """A stable, human-readable identifier."""
        threads = "default" if self.threads is None else str(self.threads)
        return (
            f"{self.model}|{self.method}|{self.target_sparsity:g}|{self.format}|"
            f"{self.device}|bs={self.batch_size}|{self.dtype}|threads={threads}"
        )

    @property
    def variant(self) -> tuple[str, float, str]:
        """(method, target sparsity, format): what is the same across devices."""
        return self.method, self.target_sparsity, self.format

    def label(self) -> str:
        """Short text for progress bars and tables."""
        if self.method == DENSE_METHOD:
            return f"dense {self.device} bs={self.batch_size}"
        return (
            f"{self.method} {self.target_sparsity:g} {self.format} "
            f"{self.device} bs={self.batch_size}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain fields, for the store."""
        return asdict(self)


def default_min_window_s(domains: Iterable[Any]) -> float:
    """100x the slowest counted domain's update period, >= 0.5 s; >= 5 s with NVML."""
    counted = [d for d in domains if getattr(d, "counted", True)]
    slowest = max((d.update_period_s for d in counted), default=0.0)
    floor = MIN_WINDOW_FLOOR_S
    if any(d.source == "nvml" for d in counted):
        floor = NVML_MIN_WINDOW_S
    return max(floor, UPDATE_PERIODS_PER_WINDOW * slowest)


def _synchronize(device: str) -> None:
    """Wait for queued GPU work, so that a window edge is a real time edge."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


class Target:
    """A model and one input batch, both already on the configuration's device."""

    def __init__(self, config: Config, module: Any, batch: Any) -> None:
        self.config = config
        self.module = module
        self.batch = batch
        self.batches_per_window = 1

    def run(self, batches: int) -> None:
        """Run `batches` forward passes under no_grad (CSR fails in inference_mode)."""
        import torch

        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
        with torch.no_grad():
            for _ in range(batches):
                self.module(self.batch)
        _synchronize(self.config.device)


def warm_up(target: Target, *, seconds: float = 0.2, min_batches: int = 3) -> float:
    """Run unmeasured batches for about `seconds`; return the seconds per batch."""
    target.run(1)  # first call: lazy initialisation, kernel selection
    timings: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(timings) < min_batches or time.perf_counter() < deadline:
        start = time.perf_counter()
        target.run(1)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def batches_for(
    seconds_per_batch: float, min_window_s: float, margin: float = 1.2
) -> int:
    """Whole batches that fill at least `min_window_s` (with a safety margin)."""
    if min_window_s <= 0:
        raise ConfigError(f"--min-window must be positive, got {min_window_s}")
    return max(1, math.ceil(margin * min_window_s / max(seconds_per_batch, 1e-9)))


@dataclass(frozen=True)
class WindowResult:
    """One measured window of one configuration (one repeat)."""

    config_key: str
    repeat: int
    order_index: int
    start_time: float  # unix seconds
    duration_s: float
    batches: int
    items: int
    energy_j: Mapping[str, float]
    net_energy_j: Mapping[str, float]
    overlap_energy_j: Mapping[str, float]
    sources: Mapping[str, str]
    idle_power_w: Mapping[str, float]
    notes: tuple[str, ...] = ()

    @property
    def total_energy_j(self) -> float:
        """Gross joules over every counted domain."""
        return float(sum(self.energy_j.values()))

    @property
    def net_total_energy_j(self) -> float:
        """Joules above the idle baseline."""
        return float(sum(self.net_energy_j.values()))

    @property
    def energy_per_item_j(self) -> float:
        """Gross joules per inference."""
        return self.total_energy_j / self.items

    @property
    def net_energy_per_item_j(self) -> float:
        """Net joules per inference."""
        return self.net_total_energy_j / self.items

    @property
    def latency_s(self) -> float:
        """Seconds per batch."""
        return self.duration_s / self.batches

    @property
    def source(self) -> str:
        """ "+"-joined sources of the counted domains."""
        return "+".join(sorted(set(self.sources.values())))

    def to_dict(self) -> dict[str, Any]:
        """Plain fields, for the store."""
        return {
            k: (dict(v) if isinstance(v, Mapping) else v) for k, v in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WindowResult:
        """The window `to_dict` wrote (extra keys, such as a window id, are ignored)."""
        names = {f.name for f in fields(cls)}
        kept = {k: v for k, v in data.items() if k in names}
        return cls(**{**kept, "notes": tuple(kept.get("notes", ()))})


def measure_window(
    profiler: Any, target: Target, *, repeat: int, order_index: int, min_window_s: float
) -> WindowResult:
    """Measure one window: whole batches, in chunks, until it lasts `min_window_s`.

    Chunks are a tenth of the calibrated count, so a window overshoots by about 10%
    even when the machine slows down. If the profiler's window does not let its item
    count be raised, the calibrated count is run as one block instead.
    """
    config = target.config
    target.run(2)  # re-warm caches after the other configurations ran
    planned = target.batches_per_window
    with profiler.window(config.key(), items=planned * config.batch_size) as win:
        if _can_extend(win):
            chunk, batches = max(1, planned // CHUNKS_PER_WINDOW), 0
            start = time.perf_counter()
            while batches == 0 or time.perf_counter() - start < min_window_s:
                target.run(chunk)
                batches += chunk
            win.items = batches * config.batch_size
        else:
            target.run(planned)
            batches = planned
    m = getattr(win, "measurement", None) or profiler.measurements[-1]
    return WindowResult(
        config_key=config.key(),
        repeat=repeat,
        order_index=order_index,
        start_time=m.start_time,
        duration_s=m.duration_s,
        batches=batches,
        items=batches * config.batch_size,
        energy_j=dict(m.energy_j),
        net_energy_j=dict(m.net_energy_j),
        overlap_energy_j=dict(m.overlap_energy_j),
        sources=dict(m.sources),
        idle_power_w=dict(m.idle_power_w),
        notes=tuple(m.notes),
    )


def _can_extend(win: Any) -> bool:
    """True if the open window lets its item count be raised (Window.items)."""
    try:
        win.items = win.items
    except AttributeError:
        return False
    return True


def adapt_batches(target: Target, window: WindowResult, min_window_s: float) -> None:
    """Size the next window of `target` from this window's measured batch time."""
    before = target.batches_per_window
    target.batches_per_window = batches_for(window.latency_s, min_window_s)
    if target.batches_per_window != before:
        logger.debug(
            "%s: %d -> %d batches per window",
            window.config_key,
            before,
            target.batches_per_window,
        )


@dataclass(frozen=True)
class ConfigSummary:
    """Per-configuration figures across repeats; CIs are 95% Student-t of the mean."""

    config_key: str
    repeats: int
    energy_per_inference_j: float
    energy_per_inference_ci_low_j: float
    energy_per_inference_ci_high_j: float
    net_energy_per_inference_j: float
    net_energy_per_inference_ci_low_j: float
    net_energy_per_inference_ci_high_j: float
    latency_ms: float  # per batch
    latency_ci_low_ms: float
    latency_ci_high_ms: float
    latency_per_item_ms: float
    throughput_ips: float
    avg_power_w: float
    duration_s: float  # all windows together
    energy_by_domain: Mapping[str, float]  # gross joules per inference per domain
    net_energy_by_domain: Mapping[str, float]
    overlap_energy_by_domain: Mapping[str, float]
    source: str
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain fields, for the store."""
        return {
            k: (dict(v) if isinstance(v, Mapping) else v) for k, v in asdict(self).items()
        }


def _per_item_by_domain(windows: Sequence[WindowResult], attr: str) -> dict[str, float]:
    """Joules per inference per domain: the mean over windows, like the totals.

    Each window's domains add up to its energy per inference, so these add up to the
    configuration's `energy_per_inference_j` (or its net figure).
    """
    domains = sorted({d for w in windows for d in getattr(w, attr)})
    return {
        d: statistics.fmean(getattr(w, attr).get(d, 0.0) / w.items for w in windows)
        for d in domains
    }


def _positive_ci(
    name: str, values: Sequence[float], notes: list[str]
) -> tuple[float, float, float]:
    """Mean and 95% interval of a quantity that cannot be negative.

    A Student-t interval of widely spread windows can reach below zero; the bound is
    then clipped at 0 and a note says so (the windows disagree: a busy machine?).
    """
    mean, low, high = mean_ci95(values)
    if low < 0:
        notes.append(
            f"{name}: the 95% interval reached {low:.4g}, below zero; clipped at 0 "
            f"(the {len(values)} windows disagree widely: was the machine busy?)"
        )
        low = 0.0
    return mean, low, high


def summarize(windows: Sequence[WindowResult], batch_size: int) -> ConfigSummary:
    """Combine the repeats of one configuration.

    Every figure is the mean over windows, so they agree with each other: throughput
    is the batch size over the mean latency, and energy by domain adds up to energy
    per inference. Intervals are 95% Student-t across windows.
    """
    if not windows:
        raise ValueError("summarize needs at least one window")
    notes: list[str] = []
    energy = _positive_ci(
        "energy per inference", [w.energy_per_item_j for w in windows], notes
    )
    net = _positive_ci(
        "net energy per inference", [w.net_energy_per_item_j for w in windows], notes
    )
    latency = _positive_ci("latency", [w.latency_s * 1e3 for w in windows], notes)
    duration = sum(w.duration_s for w in windows)
    power = statistics.fmean(w.total_energy_j / w.duration_s for w in windows)
    notes += list(dict.fromkeys(n for w in windows for n in w.notes))
    return ConfigSummary(
        config_key=windows[0].config_key,
        repeats=len(windows),
        energy_per_inference_j=energy[0],
        energy_per_inference_ci_low_j=energy[1],
        energy_per_inference_ci_high_j=energy[2],
        net_energy_per_inference_j=net[0],
        net_energy_per_inference_ci_low_j=net[1],
        net_energy_per_inference_ci_high_j=net[2],
        latency_ms=latency[0],
        latency_ci_low_ms=latency[1],
        latency_ci_high_ms=latency[2],
        latency_per_item_ms=latency[0] / batch_size,
        throughput_ips=batch_size / (latency[0] / 1e3),
        avg_power_w=power,
        duration_s=duration,
        energy_by_domain=_per_item_by_domain(windows, "energy_j"),
        net_energy_by_domain=_per_item_by_domain(windows, "net_energy_j"),
        overlap_energy_by_domain=_per_item_by_domain(windows, "overlap_energy_j"),
        source="+".join(sorted({w.source for w in windows})),
        notes=tuple(dict.fromkeys(notes)),
    )


def measure_config(
    profiler: Any,
    target: Target,
    *,
    repeats: int = 5,
    min_window_s: float | None = None,
    warmup_s: float = 0.2,
) -> tuple[ConfigSummary, list[WindowResult]]:
    """Warm up, then measure `repeats` back-to-back windows of one configuration."""
    if repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {repeats}")
    if min_window_s is None:
        min_window_s = default_min_window_s(profiler.domains)
    target.batches_per_window = batches_for(
        warm_up(target, seconds=warmup_s), min_window_s
    )
    windows = []
    for repeat in range(repeats):
        window = measure_window(
            profiler, target, repeat=repeat, order_index=repeat, min_window_s=min_window_s
        )
        windows.append(window)
        adapt_batches(target, window, min_window_s)
    if repeats < 2:
        warnings.warn(
            f"{target.config.key()}: one repeat gives no confidence interval",
            stacklevel=2,
        )
    return summarize(windows, target.config.batch_size), windows


@dataclass(frozen=True)
class CommandResult:
    """Energy of a whole subprocess, measured like `time` (for `energy-profiler run`)."""

    command: tuple[str, ...]
    exit_code: int
    duration_s: float
    child_cpu_s: float
    energy_j: Mapping[str, float]
    overlap_energy_j: Mapping[str, float]
    sources: Mapping[str, str]
    notes: tuple[str, ...] = ()

    @property
    def total_energy_j(self) -> float:
        """Joules over every counted domain."""
        return float(sum(self.energy_j.values()))

    @property
    def avg_power_w(self) -> float:
        """Average power over the command's run time."""
        return self.total_energy_j / self.duration_s if self.duration_s > 0 else math.nan

    @property
    def source(self) -> str:
        """ "+"-joined sources of the counted domains."""
        return "+".join(sorted(set(self.sources.values())))


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's waited-for children."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_child(command: Sequence[str]) -> int:
    """Run `command` with inherited stdio; a shell-like exit status."""
    import subprocess

    try:
        code = subprocess.run(list(command), check=False).returncode
    except FileNotFoundError:
        raise ConfigError(
            f"command not found: {command[0]}; check the name or give its full path"
        ) from None
    except PermissionError:
        raise ConfigError(
            f"cannot execute {command[0]}: permission denied; make it executable"
        ) from None
    return 128 - code if code < 0 else code


def measure_command(
    command: Sequence[str],
    *,
    sensors: str | Sequence[str] = "auto",
    rapl_root: str | None = None,
    cpu_tdp_w: float | None = None,
) -> CommandResult:
    """Run `command` inside one window and return its energy by domain.

    RAPL and NVML see the whole machine. The estimate sensor sees only this process's
    CPU time, so its domain is replaced by the child's CPU seconds times the same
    per-thread power.
    """
    from profiler.measure import Profiler

    if not command:
        raise ConfigError("run: no COMMAND given; use energy-profiler run -- COMMAND")
    cpu_before = _children_cpu_s()
    prof = Profiler(sensors, rapl_root=rapl_root, cpu_tdp_w=cpu_tdp_w)
    with prof, prof.window(" ".join(command)):
        exit_code = _run_child(command)
    child_cpu_s = _children_cpu_s() - cpu_before
    m = prof.measurements[-1]
    energy = dict(m.energy_j)
    notes = list(m.notes)
    estimated = [d for d, s in m.sources.items() if s == "estimate" and d in energy]
    if estimated:
        from profiler.sensors.estimate import guess_tdp

        per_thread_w = guess_tdp(cpu_tdp_w).power_per_thread_w
        for domain in estimated:
            energy[domain] = child_cpu_s * per_thread_w
        notes.append(
            f"estimate: the command's CPU time ({child_cpu_s:.3f} s) x "
            f"{per_thread_w:.2f} W per thread"
        )
    return CommandResult(
        command=tuple(command),
        exit_code=exit_code,
        duration_s=m.duration_s,
        child_cpu_s=child_cpu_s,
        energy_j=energy,
        overlap_energy_j=dict(m.overlap_energy_j),
        sources=dict(m.sources),
        notes=tuple(dict.fromkeys(notes)),
    )
