"""A fake powercap tree on real files, driven by a known power trace (benchmarks only).

Layout as the kernel makes it: real zones under `devices/virtual/powercap/<control>/`,
subzones nested in their zone, and `class/powercap` holding a link for each control
type and for every zone and subzone (so a naive reader sees subzones twice).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Raw RAPL energy unit on most parts: 2^-16 J.
ENERGY_UNIT_J = 2.0**-16


@dataclass(frozen=True)
class StepTrace:
    """Piecewise-constant power, repeated: `steps` is a sequence of (seconds, watts)."""

    steps: tuple[tuple[float, float], ...]

    @property
    def period_s(self) -> float:
        return sum(s for s, _ in self.steps)

    @property
    def period_j(self) -> float:
        return sum(s * w for s, w in self.steps)

    def energy_j(self, t_s: float) -> float:
        """Exact integral of the trace from 0 to `t_s`."""
        cycles, rest_s = divmod(max(0.0, t_s), self.period_s)
        total_j = cycles * self.period_j
        for seconds, watts in self.steps:
            if rest_s <= seconds:
                return total_j + rest_s * watts
            total_j += seconds * watts
            rest_s -= seconds
        return total_j


@dataclass
class FakeZone:
    link: str
    path: Path
    name: str
    max_uj: int
    trace: StepTrace | None  # None: mirrors `alias_of`
    alias_of: str | None = None
    wraps: int = 0
    last_uj: int = 0


def write_atomic(path: Path, text: str) -> None:
    """Replace a file in one step, so a reader never sees half a number."""
    tmp = str(path) + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text.encode("ascii"))
    finally:
        os.close(fd)
    os.replace(tmp, path)


def scratch_dir() -> str | None:
    """A RAM-backed folder for the tree: a rename on a disk file system can take ms."""
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


class FakePowercap:
    """Zones on disk plus a driver thread that updates every `energy_uj` each tick."""

    def __init__(self, base: Path, tick_s: float = 0.001):
        self.devices = base / "sys" / "devices" / "virtual" / "powercap"
        self.root = base / "sys" / "class" / "powercap"
        self.devices.mkdir(parents=True)
        self.root.mkdir(parents=True)
        self.zones: dict[str, FakeZone] = {}
        self.tick_s = tick_s
        self.origin_s = time.monotonic()
        self.tick_gaps_s: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(
        self,
        link: str,
        name: str,
        trace: StepTrace | None,
        *,
        max_uj: int,
        alias_of: str | None = None,
    ) -> FakeZone:
        """Create a zone folder, its files and its links."""
        control, *ids = link.split(":")
        control_dir = self.devices / control
        if not control_dir.exists():
            control_dir.mkdir()
            (self.root / control).symlink_to(control_dir)
        parent = control_dir if len(ids) == 1 else self.zones[f"{control}:{ids[0]}"].path
        path = parent / link
        path.mkdir()
        (path / "name").write_text(name + "\n")
        (path / "enabled").write_text("1\n")
        (path / "max_energy_range_uj").write_text(f"{max_uj}\n")
        (self.root / link).symlink_to(path)
        zone = FakeZone(link, path, name, max_uj, trace, alias_of)
        self.zones[link] = zone
        self._update(zone, 0.0)
        return zone

    def counter_uj(self, zone: FakeZone, t_s: float) -> int:
        """What the hardware shows at `t_s`: energy in whole raw units, wrapped."""
        source = self.zones[zone.alias_of] if zone.alias_of else zone
        raw_units = math.floor(source.trace.energy_j(t_s) / ENERGY_UNIT_J)
        return int(raw_units * ENERGY_UNIT_J * 1e6) % zone.max_uj

    def _update(self, zone: FakeZone, t_s: float) -> None:
        value = self.counter_uj(zone, t_s)
        if value < zone.last_uj:
            zone.wraps += 1
        zone.last_uj = value
        write_atomic(zone.path / "energy_uj", f"{value}\n")

    def now_s(self) -> float:
        """Seconds on the trace's time axis."""
        return time.monotonic() - self.origin_s

    def start(self) -> None:
        """Start the driver thread (one update of every zone per tick)."""
        self._thread = threading.Thread(target=self._drive, name="fake-rapl", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _drive(self) -> None:
        last_s = self.now_s()
        while not self._stop.wait(self.tick_s):
            t_s = self.now_s()
            for zone in self.zones.values():
                self._update(zone, t_s)
            self.tick_gaps_s.append(t_s - last_s)
            last_s = t_s

    def energy_j(self, link: str, t0_s: float, t1_s: float) -> float:
        """Truth: the integral of the zone's trace over [t0_s, t1_s]."""
        zone = self.zones[link]
        trace = self.zones[zone.alias_of].trace if zone.alias_of else zone.trace
        return trace.energy_j(t1_s) - trace.energy_j(t0_s)


def two_socket_tree(
    base: Path,
    max_uj: int,
    scale: Callable[[float], float] = lambda w: w,
) -> tuple[FakePowercap, dict[str, str]]:
    """Two packages (core, dram subzones), psys, and an MMIO copy of package 0.

    Returns the tree and, per expected domain, the zone link it should equal.
    """
    cap = FakePowercap(base)

    def steps(*pairs: tuple[float, float]) -> StepTrace:
        return StepTrace(tuple((s, scale(w)) for s, w in pairs))

    pkg0 = steps((0.37, 35.0), (0.21, 160.0), (0.5, 90.0), (0.13, 12.0))
    pkg1 = steps((0.29, 20.0), (0.44, 120.0), (0.17, 70.0))
    cap.add("intel-rapl:0", "package-0", pkg0, max_uj=max_uj)
    cap.add("intel-rapl:0:0", "core", steps((0.3, 25.0), (0.3, 110.0)), max_uj=max_uj)
    cap.add("intel-rapl:0:1", "dram", steps((0.23, 6.0), (0.11, 14.0)), max_uj=max_uj)
    cap.add("intel-rapl:1", "package-1", pkg1, max_uj=max_uj)
    cap.add("intel-rapl:1:0", "core", steps((0.4, 15.0), (0.2, 80.0)), max_uj=max_uj)
    cap.add("intel-rapl:1:1", "dram", steps((0.19, 4.0), (0.31, 11.0)), max_uj=max_uj)
    cap.add("intel-rapl:2", "psys", steps((0.33, 240.0), (0.27, 380.0)), max_uj=max_uj)
    cap.add(
        "intel-rapl-mmio:0", "package-0", None, max_uj=max_uj, alias_of="intel-rapl:0"
    )
    expected = {
        "package-0": "intel-rapl:0",
        "package-1": "intel-rapl:1",
        "dram-0": "intel-rapl:0:1",
        "dram-1": "intel-rapl:1:1",
        "core-0": "intel-rapl:0:0",
        "core-1": "intel-rapl:1:0",
        "psys": "intel-rapl:2",
    }
    return cap, expected
