"""The CPU energy estimate used when no CPU counter can be read.

energy_j = CPU seconds this process used (all its threads, `time.process_time`)
           x per-thread power, where per-thread power = TDP / logical CPUs.

The TDP comes from `cpu_tdp_w=` if given, else from codecarbon's offline table
(`codecarbon/data/hardware/cpu_power.csv`, located without importing codecarbon) by the
model name in `/proc/cpuinfo`, else from a default of `DEFAULT_W_PER_THREAD` per logical
CPU (codecarbon's own default). Child processes and idle power are not seen. Every domain
is labelled `estimate`.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from profiler.errors import ConfigError
from profiler.sensors.base import Domain, Sensor

logger = logging.getLogger(__name__)

DEFAULT_W_PER_THREAD = 4.0
CPUINFO = "/proc/cpuinfo"
_NOISE = re.compile(
    r"\(r\)|\(tm\)|®|™|\bcpu\b|\bprocessor\b|\b\d+-core\b"
    r"|\bwith radeon .*$|\bincludes .*$|@.*$"
)


@dataclass(frozen=True)
class TdpGuess:
    """Where the estimate's TDP comes from."""

    tdp_w: float
    logical_cpus: int
    origin: str  # "override", "table", "default"
    model: str  # CPU model name read, "" if unknown
    matched: str = ""  # table row used

    @property
    def power_per_thread_w(self) -> float:
        """TDP shared evenly over the logical CPUs."""
        return self.tdp_w / self.logical_cpus

    def describe(self) -> str:
        """One sentence for the notes."""
        per = f"{self.power_per_thread_w:.2f} W per logical CPU"
        if self.origin == "override":
            return f"estimate: CPU time x {per} (cpu_tdp_w={self.tdp_w:g} W given)"
        if self.origin == "table":
            return (
                f"estimate: CPU time x {per} (TDP {self.tdp_w:g} W of {self.matched!r} in"
                f" codecarbon's table / {self.logical_cpus} logical CPUs)"
            )
        return (
            f"estimate: CPU time x {per}: CPU model {self.model or 'unknown'!r} not "
            f"found in codecarbon's TDP table, so the default of {DEFAULT_W_PER_THREAD:g}"
            " W per logical CPU is assumed; pass cpu_tdp_w= to set the TDP"
        )


def normalise(model: str) -> str:
    """Lower-case a CPU model name and drop trademarks, clock, 'CPU', parentheses."""
    text = _NOISE.sub(" ", model.lower())
    text = re.sub(r"\([^)]*\)", " ", text)
    return " ".join(text.replace(",", " ").split())


def table_path() -> Path | None:
    """codecarbon's CPU TDP table, found without importing codecarbon (slow)."""
    spec = importlib.util.find_spec("codecarbon")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)))
    path = path / "data" / "hardware" / "cpu_power.csv"
    return path if path.is_file() else None


@lru_cache(maxsize=16)
def lookup_tdp(model: str, path: str) -> tuple[str, float]:
    """(table row, TDP watts) for `model` in a codecarbon-style CSV; ("", 0) if none.

    Only rows sharing a model-number word with `model` are compared (fast)."""
    numbers = {w for w in normalise(model).split() if any(c.isdigit() for c in w)}
    if not numbers:
        return "", 0.0
    rows = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            if len(row) < 2 or not any(n in row[0].lower() for n in numbers):
                continue
            try:
                rows.append((normalise(row[0]), float(row[1])))
            except ValueError:
                continue
    return match_tdp(model, tuple(rows))


def match_tdp(model: str, table: tuple[tuple[str, float], ...]) -> tuple[str, float]:
    """Best row of (normalised name, TDP) for `model`: the exact normalised name, else
    the longest row whose words all appear in the model name and include a model
    number. ("", 0) if none."""
    wanted = normalise(model)
    if not wanted:
        return "", 0.0
    for name, tdp in table:
        if name == wanted:
            return name, tdp
    words = set(wanted.split())
    best = ("", 0.0)
    for name, tdp in table:
        tokens = name.split()
        numbered = any(any(ch.isdigit() for ch in t) for t in tokens)
        if numbered and set(tokens) <= words and len(name) > len(best[0]):
            best = (name, tdp)
    return best


def cpu_model(cpuinfo: str = CPUINFO) -> str:
    """The CPU model name from /proc/cpuinfo, "" if it cannot be read."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model"):
            return value.strip()
    return ""


def guess_tdp(
    cpu_tdp_w: float | None = None,
    *,
    cpuinfo: str = CPUINFO,
    table: str | os.PathLike | None = None,
    logical_cpus: int | None = None,
) -> TdpGuess:
    """Decide the TDP the estimate uses (override, table, or documented default)."""
    cpus = logical_cpus or os.cpu_count() or 1
    model = cpu_model(cpuinfo)
    if cpu_tdp_w is not None:
        if not cpu_tdp_w > 0:
            raise ConfigError(f"cpu_tdp_w={cpu_tdp_w!r} must be a positive number of W")
        return TdpGuess(float(cpu_tdp_w), cpus, "override", model)
    path = table or table_path()
    if path is not None and model:
        name, tdp = lookup_tdp(model, str(path))
        if tdp > 0:
            return TdpGuess(tdp, cpus, "table", model, name)
    return TdpGuess(DEFAULT_W_PER_THREAD * cpus, cpus, "default", model)


class EstimateSensor(Sensor):
    """Domain "cpu": this process's CPU time times a per-thread power."""

    source = "estimate"

    def __init__(
        self,
        cpu_tdp_w: float | None = None,
        *,
        counted: bool = True,
        notes: list[str] | None = None,
        cpu_time: Callable[[], float] = time.process_time,
        guess: TdpGuess | None = None,
    ):
        self.guess = guess or guess_tdp(cpu_tdp_w)
        self._cpu_time = cpu_time
        self._start_s = cpu_time()
        self._notes = list(notes or []) + [self.guess.describe()]
        detail = f"{self.guess.model or 'unknown CPU'}; {self.guess.describe()}"
        self._domain = Domain("cpu", "cpu", "estimate", counted, 1e-6, detail)
        logger.info("%s", self.guess.describe())

    def domains(self) -> tuple[Domain, ...]:
        """The single "cpu" domain."""
        return (self._domain,)

    def read_j(self) -> dict[str, float]:
        """Estimated joules since open."""
        used_s = self._cpu_time() - self._start_s
        return {"cpu": max(0.0, used_s) * self.guess.power_per_thread_w}

    def notes(self) -> list[str]:
        """How the figure is made, plus any fallback reasons given at open."""
        return list(self._notes)
