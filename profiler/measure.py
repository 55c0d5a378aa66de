"""Measurement windows over the sensors: the `Profiler` and its `Measurement` results.

A background sampler reads every sensor at `interval_s` (or faster when a sensor needs
it to catch counter wraps or to integrate power) and keeps the power timeline. A window
reads the sensors itself at its edges, so its figures do not depend on the sampler's
phase; windows may nest and overlap. CUDA is synchronised at window edges only when
torch is already imported and CUDA initialised.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from profiler.errors import ConfigError, ProfilerError
from profiler.sensors.base import Domain, Sensor

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["Measurement", "Profiler", "Window"]

#: Default sampler period. Measured on the 2-core dev VM with the estimate sensor: the
#: sampler thread used 0.25% of one core at this period (its own CPU clock, 5 s).
DEFAULT_INTERVAL_S = 0.05
_EMPTY: Mapping[str, float] = MappingProxyType({})


@dataclass(frozen=True)
class Measurement:
    """Energy of one window. Gross figures; net figures subtract the idle baseline."""

    name: str
    start_time: float  # unix seconds
    duration_s: float
    items: int | None
    energy_j: Mapping[str, float]  # counted domains only
    overlap_energy_j: Mapping[str, float]  # psys/core/uncore: reported, never summed
    sources: Mapping[str, str]  # domain -> "rapl" | "nvml" | "estimate"
    idle_power_w: Mapping[str, float]  # per counted domain; empty without baseline
    notes: tuple[str, ...]
    failed: bool = False
    error: str | None = None
    cross_check_j: Mapping[str, float] = field(
        default_factory=lambda: _EMPTY
    )  # pyRAPL, if asked

    @property
    def total_energy_j(self) -> float:
        """Gross joules, every counted domain once."""
        return sum(self.energy_j.values())

    @property
    def net_energy_j(self) -> Mapping[str, float]:
        """Joules above idle per counted domain, clipped at 0 (noted when clipped)."""
        return {
            d: max(0.0, e - self.idle_power_w.get(d, 0.0) * self.duration_s)
            for d, e in self.energy_j.items()
        }

    @property
    def net_total_energy_j(self) -> float:
        """Joules above idle, all counted domains."""
        return sum(self.net_energy_j.values())

    @property
    def energy_per_item_j(self) -> float | None:
        """Gross joules per item; None when items is None or 0."""
        return self.total_energy_j / self.items if self.items else None

    @property
    def net_energy_per_item_j(self) -> float | None:
        """Net joules per item; None when items is None or 0."""
        return self.net_total_energy_j / self.items if self.items else None

    @property
    def avg_power_w(self) -> float:
        """Gross mean power over the window (nan for a zero-length window)."""
        return self.total_energy_j / self.duration_s if self.duration_s > 0 else math.nan

    @property
    def source(self) -> str:
        """Sorted unique sources of the counted domains, "+"-joined."""
        return "+".join(sorted({self.sources[d] for d in self.energy_j}))

    def to_dict(self) -> dict:
        """Plain dict of fields and derived figures (mappings as dicts)."""
        out = {
            "name": self.name,
            "start_time": self.start_time,
            "duration_s": self.duration_s,
            "items": self.items,
            "notes": list(self.notes),
            "failed": self.failed,
            "error": self.error,
            "total_energy_j": self.total_energy_j,
            "net_total_energy_j": self.net_total_energy_j,
            "net_energy_j": dict(self.net_energy_j),
            "energy_per_item_j": self.energy_per_item_j,
            "net_energy_per_item_j": self.net_energy_per_item_j,
            "avg_power_w": self.avg_power_w,
            "source": self.source,
        }
        for key in ("energy_j", "overlap_energy_j", "sources", "idle_power_w"):
            out[key] = dict(getattr(self, key))
        out["cross_check_j"] = dict(self.cross_check_j)
        return out


def _sync_cuda() -> None:
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None) if torch is not None else None
    if cuda is not None and cuda.is_initialized():
        cuda.synchronize()


class Window:
    """An open measurement window; `measurement` is set when it closes."""

    __slots__ = ("_prof", "name", "items", "_t0", "_wall0", "_j0", "_marks", "_meter")
    __slots__ += ("_pmark", "measurement")

    def __init__(self, prof: Profiler, name: str, items: int | None):
        self._prof, self.name, self.items = prof, name, items
        self.measurement: Measurement | None = None

    def __enter__(self) -> Window:
        prof = self._prof
        prof._require_started()
        self._meter = prof._cross.begin(self.name) if prof._cross else None
        self._marks = [len(s.notes()) for s in prof._sensors]
        self._pmark = len(prof._notes)
        _sync_cuda()
        self._wall0 = time.time()
        self._t0 = time.perf_counter()
        self._j0 = prof._read_all()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        prof = self._prof
        _sync_cuda()
        j1 = prof._read_all()
        duration_s = time.perf_counter() - self._t0
        error = f"{exc_type.__name__}: {exc}" if exc_type is not None else None
        cross = prof._cross.end(self._meter) if prof._cross else {}
        self.measurement = prof._record(self, j1, duration_s, error, cross)
        return False


class Profiler:
    """Open sensors, sample them in the background, and measure windows.

    `sensors`: "auto" or a list of "rapl", "nvml", "estimate". `interval_s`: period of
    the power timeline. `idle_s`: idle power measured this long at start (0: none).
    `cpu_tdp_w`: TDP for the estimate. `cross_check="pyrapl"`: record pyRAPL's figure
    beside each window.
    """

    def __init__(
        self,
        sensors: str | Sequence[str] = "auto",
        *,
        rapl_root: str | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        idle_s: float = 0.0,
        cpu_tdp_w: float | None = None,
        cross_check: str | None = None,
        _sensors: Sequence[Sensor] | None = None,
    ):
        if not interval_s > 0:
            raise ConfigError(f"interval_s={interval_s!r} must be > 0 seconds")
        if not idle_s >= 0:
            raise ConfigError(f"idle_s={idle_s!r} must be >= 0 seconds")
        if cross_check not in (None, "pyrapl"):
            raise ConfigError(f"cross_check={cross_check!r}: use None or 'pyrapl'")
        self._spec, self._rapl_root, self._tdp = sensors, rapl_root, cpu_tdp_w
        self.interval_s, self.idle_s, self.cross_check = interval_s, idle_s, cross_check
        self._given = list(_sensors) if _sensors is not None else None
        self._sensors: list[Sensor] = []
        self._cross = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._samples: list[tuple[float, dict[str, float]]] = []
        self._notes: list[str] = []
        self._started = False
        self._t_start = 0.0
        self.start_time = math.nan  # unix seconds of start(); timeline() counts from it
        self.measurements: list[Measurement] = []
        self.idle_power_w: dict[str, float] = {}
        self.domains: tuple[Domain, ...] = ()

    # lifecycle -----------------------------------------------------------------
    def __enter__(self) -> Profiler:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.stop()
        return False

    def start(self) -> Profiler:
        """Open the sensors, start the sampler, measure idle if `idle_s` > 0."""
        if self._started:
            return self
        if self._given is not None:
            self._sensors = list(self._given)
        else:
            from profiler.sensors import open_sensors

            self._sensors = open_sensors(
                self._spec, rapl_root=self._rapl_root, cpu_tdp_w=self._tdp
            )
        self._setup_domains()
        if self.cross_check == "pyrapl":
            from profiler.sensors.pyrapl import PyRaplCrossCheck

            self._cross = PyRaplCrossCheck()
        self._t_start = time.perf_counter()
        self.start_time = time.time()
        self._started = True
        self._stop.clear()
        self._sample()
        self._thread = threading.Thread(
            target=self._run, name="profiler-sampler", daemon=True
        )
        self._thread.start()
        if self.idle_s > 0:
            self.measure_idle(self.idle_s)
        return self

    def _setup_domains(self) -> None:
        self.domains = tuple(d for s in self._sensors for d in s.domains())
        names = [d.name for d in self.domains]
        if len(set(names)) != len(names):
            raise ProfilerError(f"sensors report one domain name twice: {names}")
        self._counted = {d.name for d in self.domains if d.counted}
        self._sources = MappingProxyType({d.name: d.source for d in self.domains})
        self._standing = tuple(n for s in self._sensors for n in s.notes())
        self._period_checks = [
            (d.name, d.update_period_s) for d in self.domains if d.update_period_s > 0
        ]

    def stop(self) -> None:
        """Stop the sampler, take a last sample, close the sensors. Safe twice."""
        if not self._started:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        self._started = False
        for sensor in self._sensors:
            sensor.close()

    def _require_started(self) -> None:
        if not self._started:
            raise ProfilerError(
                "Profiler is not running: use `with Profiler() as prof:` or call "
                "prof.start() before opening a window"
            )

    # sampling ------------------------------------------------------------------
    def _period_s(self) -> float:
        polls = [s.poll_interval_s for s in self._sensors]
        return min([self.interval_s, *polls])

    def _run(self) -> None:
        while not self._stop.wait(self._period_s()):
            self._sample()

    def _read_all(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for sensor in self._sensors:
            values.update(sensor.read_j())
        return values

    def _sample(self) -> None:
        now = time.perf_counter()
        try:
            values = self._read_all()
        except Exception as exc:  # keep sampling; the failure goes into the notes
            self._add_note(f"sampler read failed at {now - self._t_start:.3f} s: {exc!r}")
            return
        with self._lock:
            self._samples.append((now, values))

    def _add_note(self, text: str) -> None:
        logger.warning("%s", text)
        with self._lock:
            self._notes.append(text)

    # windows -------------------------------------------------------------------
    def window(self, name: str, items: int | None = None) -> Window:
        """A context manager measuring what runs inside it; see `measurements`."""
        if items is not None and (not isinstance(items, int) or items < 0):
            raise ConfigError(f"items={items!r} for window {name!r} must be an int >= 0")
        return Window(self, name, items)

    def _record(self, win: Window, j1, duration_s, error, cross) -> Measurement:
        j0 = win._j0
        energy = {d: j1[d] - j0[d] for d in j1 if d in j0}
        counted = {d: e for d, e in energy.items() if d in self._counted}
        overlap = {d: e for d, e in energy.items() if d not in self._counted}
        notes = list(self._standing)
        for sensor, mark in zip(self._sensors, win._marks):
            notes.extend(sensor.notes()[mark:])
        with self._lock:
            notes.extend(self._notes[win._pmark :])
        notes.extend(self._quality_notes(counted, duration_s))
        if cross:
            notes.append(_cross_note(cross, counted))
        if self._cross is not None:
            notes.extend(self._cross.notes)
        m = Measurement(
            win.name, win._wall0, duration_s, win.items,
            MappingProxyType(counted), MappingProxyType(overlap), self._sources,
            MappingProxyType(dict(self.idle_power_w)), tuple(notes),
            error is not None, error, MappingProxyType(cross) if cross else _EMPTY,
        )  # fmt: skip
        with self._lock:
            self.measurements.append(m)
        return m

    def _quality_notes(self, counted: dict[str, float], duration_s: float) -> list[str]:
        notes = []
        for name, period_s in self._period_checks:
            if duration_s < period_s:
                notes.append(
                    f"low confidence: the {duration_s * 1e3:.3f} ms window is shorter "
                    f"than {name}'s update period ({period_s * 1e3:g} ms)"
                )
        for name, joules in counted.items():
            if joules == 0.0:
                notes.append(f"{name}: 0 J: the counter did not advance in the window")
            idle_j = self.idle_power_w.get(name, 0.0) * duration_s
            if idle_j > joules:
                notes.append(
                    f"{name}: idle energy {idle_j:.4g} J exceeds gross {joules:.4g} J; "
                    "net clipped at 0"
                )
        return notes

    # idle baseline ---------------------------------------------------------------
    def measure_idle(self, seconds: float) -> dict[str, float]:
        """(Re)measure idle power per counted domain over `seconds`; W per domain."""
        self._require_started()
        if not seconds > 0:
            raise ConfigError(f"measure_idle({seconds!r}): seconds must be > 0")
        t0, j0 = time.perf_counter(), self._read_all()
        time.sleep(seconds)
        t1, j1 = time.perf_counter(), self._read_all()
        idle = {d: (j1[d] - j0[d]) / (t1 - t0) for d in j1 if d in self._counted}
        self.idle_power_w = idle
        logger.info("idle power over %.2f s: %s", t1 - t0, idle)
        return dict(idle)

    # frames ----------------------------------------------------------------------
    def to_dataframe(self) -> pd.DataFrame:
        """One row per (window, domain), counted and overlap domains."""
        import pandas as pd

        rows = []
        for index, m in enumerate(list(self.measurements)):
            net = m.net_energy_j
            both = [(d, e, True) for d, e in m.energy_j.items()]
            both += [(d, e, False) for d, e in m.overlap_energy_j.items()]
            for domain, joules, counted in both:
                rows.append({
                    "window": m.name, "window_index": index,
                    "start_time": m.start_time, "duration_s": m.duration_s,
                    "items": m.items, "domain": domain, "source": m.sources[domain],
                    "counted": counted, "energy_j": joules,
                    "net_energy_j": net.get(domain),
                    "idle_power_w": m.idle_power_w.get(domain),
                    "energy_per_item_j": joules / m.items if m.items else None,
                    "failed": m.failed,
                })  # fmt: skip
        return pd.DataFrame(rows, columns=_FRAME_COLUMNS)

    def timeline(self) -> pd.DataFrame:
        """Sampled power per domain: time_s (since start), domain, power_w, source."""
        import pandas as pd

        with self._lock:
            samples = list(self._samples)
        rows = []
        for (t0, a), (t1, b) in zip(samples, samples[1:]):
            if t1 <= t0:
                continue
            for domain, joules in b.items():
                if domain in a:
                    power_w = (joules - a[domain]) / (t1 - t0)
                    source = self._sources.get(domain, "")
                    rows.append((t1 - self._t_start, domain, power_w, source))
        return pd.DataFrame(rows, columns=["time_s", "domain", "power_w", "source"])


_FRAME_COLUMNS = [
    "window", "window_index", "start_time", "duration_s", "items", "domain", "source",
    "counted", "energy_j", "net_energy_j", "idle_power_w", "energy_per_item_j", "failed",
]  # fmt: skip


def _cross_note(cross: Mapping[str, float], ours: Mapping[str, float]) -> str:
    theirs = ", ".join(f"{k} {v:.4g} J" for k, v in sorted(cross.items()))
    mine = ", ".join(f"{k} {v:.4g} J" for k, v in sorted(ours.items()))
    return f"pyRAPL cross-check: {theirs} (ours: {mine})"
