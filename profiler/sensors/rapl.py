"""RAPL energy counters through the Linux powercap tree.

Discovery walks `rapl_root` (default `/sys/class/powercap`). That folder holds a link
for every zone *and* subzone while subzones also nest inside their zone, so every zone
is identified by its resolved real path and seen once.

Counting rules (no joule counted twice):

- `package-N` is counted. Several zones with the same package name (the MSR zone
  `intel-rapl:N` and the MMIO zone `intel-rapl-mmio:N`) are one package: the MSR zone
  is kept, the other is reported as a duplicate.
- Die zones `package-N-die-M` of one package are one counter when, in three rounds,
  every read of die M falls between two reads of the first die taken just before and
  just after it; they are then counted once as `package-N`. Otherwise each die is
  counted as `package-N-die-M`.
- `dram` is counted as `dram-N`; `core` and `uncore` are parts of their package and
  `psys` covers the packages: they are reported, never added.
- Subzones of a duplicate zone are duplicates unless the kept zone lacks that kind.

Counters wrap at `max_energy_range_uj`; every read accumulates the difference, adding
the range when the value went down, so any number of wraps is counted as long as reads
come more often than one wrap (`poll_interval_s`). Without a readable range a decrease
is never negative energy: the interval is flagged as unknown in `notes()`. A failed
read is flagged and its energy is picked up by the next good read; it is never 0.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from profiler.errors import MeasurementWarning, SensorPermissionError, SensorUnavailable
from profiler.sensors.base import Domain, Sensor, SensorStatus

logger = logging.getLogger(__name__)

DEFAULT_ROOT = "/sys/class/powercap"
ZONE_RE = re.compile(r"^(?P<control>[a-z][a-z0-9-]*):(?P<ids>\d+(?::\d+)*)$")
CONTROL_RE = re.compile(r"^[a-z][a-z0-9-]*rapl[a-z0-9-]*$")
PACKAGE_RE = re.compile(r"^package-(?P<pkg>\d+)(?:-die-(?P<die>\d+))?$")
NOT_COUNTED = {"core": "part of its package", "uncore": "part of its package"}
NOT_COUNTED["psys"] = "covers the whole platform, overlapping the packages"
#: Before any power is observed, assume this much per zone when sizing the poll period.
PRIOR_POWER_W = 500.0
MIN_POLL_S, MAX_POLL_S = 0.001, 60.0

Reader = Callable[[str], str]


def read_sysfs(path: str) -> str:
    """Read one sysfs file (the seam tests replace to simulate unreadable files).

    Plain descriptor calls, not `open()`: a window reads every counter at both edges,
    and a text file object costs about 15 us a read against about 3 us this way.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 128).decode("ascii")
    finally:
        os.close(fd)


def permission_message(path: str) -> str:
    """One-line explanation and fixes for an unreadable `energy_uj`."""
    return (
        f"cannot read {path}: permission denied (RAPL counters are root-only since "
        "Linux 5.10); fix: run as root, or give a group read access to the energy_uj "
        "files (a udev rule or a boot-time chmod g+r), or in a container mount the "
        "host's /sys/devices/virtual/powercap and pass --rapl-root"
    )


@dataclass(frozen=True)
class Zone:
    """One powercap zone as found on disk, before de-duplication."""

    path: str  # resolved real path
    link: str  # folder name, e.g. "intel-rapl:0:1"
    control: str  # "intel-rapl", "intel-rapl-mmio"
    ids: tuple[int, ...]
    name: str  # contents of the `name` file
    kind: str = "other"
    package: int | None = None
    die: int | None = None
    domain: str = ""  # domain name once kept; "" when dropped
    duplicate_of: str = ""  # link of the zone it duplicates
    counted: bool = False


def _zone_dirs(root: Path) -> list[tuple[str, str]]:
    """(link name, real path) of every zone under `root`, each real folder once."""
    found: dict[str, str] = {}
    stack = [(str(root), True)]
    while stack:
        folder, at_root = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            logger.debug("cannot list %s: %s", folder, exc)
            continue
        for entry in entries:
            if ZONE_RE.match(entry.name) and entry.is_dir():
                real = os.path.realpath(entry.path)
                if real not in found:
                    found[real] = entry.name
                    stack.append((entry.path, False))
            elif at_root and CONTROL_RE.match(entry.name) and entry.is_dir():
                stack.append((entry.path, False))
    return sorted(((link, real) for real, link in found.items()), key=_link_order)


def _link_order(item: tuple[str, str]) -> tuple:
    match = ZONE_RE.match(item[0])
    control = match["control"] if match else item[0]
    ids = tuple(int(i) for i in match["ids"].split(":")) if match else ()
    return (control != "intel-rapl", len(ids) > 1, control, ids)


def _read_zone(link: str, real: str, reader: Reader) -> Zone:
    match = ZONE_RE.match(link)
    control, ids_text = (match["control"], match["ids"]) if match else (link, "0")
    ids = tuple(int(i) for i in ids_text.split(":"))
    try:
        name = reader(os.path.join(real, "name")).strip()
    except OSError:
        name = link
    return Zone(real, link, control, ids, name)


def _classify(zones: list[Zone]) -> list[Zone]:
    """Give each zone its kind, package and die (subzones inherit from their parent)."""
    parents: dict[tuple[str, tuple[int, ...]], Zone] = {}
    out = []
    for zone in zones:
        pkg = PACKAGE_RE.match(zone.name)
        if pkg:
            die = int(pkg["die"]) if pkg["die"] is not None else None
            zone = replace(zone, kind="package", package=int(pkg["pkg"]), die=die)
        else:
            kind = zone.name if zone.name in ("core", "uncore", "dram", "psys") else ""
            parent = parents.get((zone.control, zone.ids[:1]))
            package = parent.package if parent and len(zone.ids) > 1 else None
            die = parent.die if parent and len(zone.ids) > 1 else None
            zone = replace(zone, kind=kind or "other", package=package, die=die)
        if len(zone.ids) == 1:
            parents[(zone.control, zone.ids)] = zone
        out.append(zone)
    return out


def _same_counter(first: Zone, other: Zone, reader: Reader, rounds: int = 3) -> bool:
    """True when `other` reads as the same counter as `first` (bracketed reads)."""
    a_path = os.path.join(first.path, "energy_uj")
    b_path = os.path.join(other.path, "energy_uj")
    try:
        for _ in range(rounds):
            before = int(reader(a_path))
            value = int(reader(b_path))
            after = int(reader(a_path))
            if not before <= value <= after:
                return False
    except (OSError, ValueError):
        return False
    return True


def _merge_dies(zones: list[Zone], reader: Reader) -> dict[str, str]:
    """Map the link of each die zone that repeats a counter to the die it repeats."""
    merged: dict[str, str] = {}
    firsts: dict[int, Zone] = {}
    for zone in zones:
        if zone.kind != "package" or zone.die is None or zone.control != "intel-rapl":
            continue
        first = firsts.setdefault(zone.package, zone)
        if first is not zone and _same_counter(first, zone, reader):
            merged[zone.link] = first.link
    return merged


def _domain_name(zone: Zone, split_dies: set[int]) -> str:
    base = "package" if zone.kind == "package" else zone.kind
    if zone.kind == "other":
        base = re.sub(r"[^a-z0-9]+", "-", zone.name.lower()).strip("-") or "zone"
    if zone.kind == "psys" or zone.package is None:
        return base
    name = f"{base}-{zone.package}"
    if zone.package in split_dies and zone.die is not None:
        name += f"-die-{zone.die}"
    return name


def _split_packages(zones: list[Zone], merged: dict[str, str]) -> set[int]:
    """Packages whose die zones are separate counters (named `package-N-die-M`)."""
    firsts: dict[int, str] = {}
    split = set()
    for zone in zones:
        if zone.kind != "package" or zone.die is None or zone.control != "intel-rapl":
            continue
        first = firsts.setdefault(zone.package, zone.link)
        if first != zone.link and zone.link not in merged:
            split.add(zone.package)
    return split


def deduplicate(zones: list[Zone], reader: Reader) -> list[Zone]:
    """Apply the counting rules of this module; every zone comes back, marked."""
    zones = _classify(zones)
    merged = _merge_dies(zones, reader)
    split = _split_packages(zones, merged)
    kept: dict[str, Zone] = {}
    dup_parents: set[tuple[str, int]] = set()
    out = []
    for zone in zones:
        name = _domain_name(zone, split)
        top = len(zone.ids) == 1
        if zone.link in merged:
            zone = replace(zone, duplicate_of=merged[zone.link])
        elif name in kept and (top or _pkey(zone) in dup_parents):
            zone = replace(zone, duplicate_of=kept[name].link)
        elif name in kept:
            name = f"{name}-{zone.ids[-1]}"
        if zone.duplicate_of:
            dup_parents.update([_pkey(zone)] if top else [])
            out.append(zone)
            continue
        zone = replace(zone, domain=name, counted=zone.kind in ("package", "dram"))
        kept[name] = zone
        out.append(zone)
    return out


def _pkey(zone: Zone) -> tuple[str, int]:
    return (zone.control, zone.ids[0])


def discover(root: str | os.PathLike | None = None, reader: Reader | None = None):
    """All zones under `root`, de-duplicated and marked. Raises if there is no tree."""
    reader = reader or read_sysfs
    path = Path(root or DEFAULT_ROOT)
    if not path.is_dir():
        raise SensorUnavailable(
            f"no powercap tree at {path}: the kernel exposes no RAPL here (no "
            "intel_rapl/AMD RAPL driver, a VM, or a container hiding "
            "/sys/devices/virtual/powercap); fix: on bare metal load intel_rapl_msr, "
            "or mount the host's powercap tree and pass --rapl-root"
        )
    zones = [_read_zone(link, real, reader) for link, real in _zone_dirs(path)]
    if not zones:
        raise SensorUnavailable(
            f"no RAPL zones under {path}; fix: point --rapl-root at the folder holding "
            "intel-rapl:N zones (e.g. /sys/class/powercap or a mounted host copy)"
        )
    return deduplicate(zones, reader)


class _Counter:
    """Cumulative microjoules of one zone, wrap-aware. Callers hold the sensor lock."""

    def __init__(self, zone: Zone, max_uj: int | None, raw_uj: int, now_s: float):
        self.zone = zone
        self.path = os.path.join(zone.path, "energy_uj")
        self.max_uj = max_uj
        self.last_uj = raw_uj
        self.last_s = now_s
        self.total_uj = 0
        self.peak_w = 0.0
        self.wraps = 0
        self.unknown_s = 0.0

    def update(self, reader: Reader, now_s: float, note: Callable[[str], None]) -> None:
        """Read the counter once and add what it gained since the last good read."""
        try:
            raw = int(reader(self.path))
        except (OSError, ValueError) as exc:
            note(
                f"{self.zone.domain}: read of {self.path} failed ({exc!s}); its energy "
                "is counted at the next good read (a wrap meanwhile would be missed)"
            )
            return
        delta = raw - self.last_uj
        elapsed_s = now_s - self.last_s
        if delta < 0 and self.max_uj:
            delta += self.max_uj
            self.wraps += 1
        elif delta < 0:
            self.unknown_s += elapsed_s
            note(
                f"{self.zone.domain}: {self.path} went down from {self.last_uj} to {raw}"
                f" uJ and max_energy_range_uj is unreadable; the energy of that "
                f"{elapsed_s * 1e3:.1f} ms interval is unknown and not counted"
            )
            delta = 0
        if elapsed_s > 0:
            self.peak_w = max(self.peak_w, delta / 1e6 / elapsed_s)
        self.total_uj += delta
        self.last_uj, self.last_s = raw, now_s


def _read_max(zone: Zone, reader: Reader) -> int | None:
    try:
        value = int(reader(os.path.join(zone.path, "max_energy_range_uj")))
    except (OSError, ValueError):
        return None
    return value if value > 0 else None


def _domain_of(zone: Zone, max_uj: int | None) -> Domain:
    detail = f"{zone.link} ({zone.name}) {zone.path}"
    if max_uj is None:
        detail += "; max_energy_range_uj unreadable"
    return Domain(zone.domain, zone.kind, "rapl", zone.counted, 0.001, detail)


class RaplSensor(Sensor):
    """Every kept RAPL zone under `root`, read through `reader` (a seam for tests)."""

    source = "rapl"

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        *,
        reader: Reader | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._reader = reader or read_sysfs
        self._clock = clock
        self._lock = threading.Lock()
        self._notes: list[str] = []
        self.zones = discover(root, self._reader)
        self._counters = [self._open_counter(z) for z in self.zones if z.domain]
        self._domains = tuple(_domain_of(c.zone, c.max_uj) for c in self._counters)
        for counter in self._counters:
            if counter.max_uj is None:
                self._note(
                    f"{counter.zone.domain}: max_energy_range_uj unreadable; "
                    "a counter wrap cannot be sized and would be flagged"
                )
        logger.info("RAPL domains: %s", ", ".join(d.name for d in self._domains))

    def _open_counter(self, zone: Zone) -> _Counter:
        path = os.path.join(zone.path, "energy_uj")
        try:
            raw = int(self._reader(path))
        except PermissionError as exc:
            raise SensorPermissionError(permission_message(path)) from exc
        except (OSError, ValueError) as exc:
            raise SensorUnavailable(
                f"cannot read {path} ({exc!s}); fix: check the powercap tree or pass "
                "--rapl-root pointing at a readable copy"
            ) from exc
        return _Counter(zone, _read_max(zone, self._reader), raw, self._clock())

    def _note(self, text: str) -> None:
        self._notes.append(text)
        logger.warning("%s", text)
        warnings.warn(text, MeasurementWarning, stacklevel=3)

    def domains(self) -> tuple[Domain, ...]:
        """Kept zones, counted (package, dram) and reported-only (core, uncore, psys)."""
        return self._domains

    def read_j(self) -> dict[str, float]:
        """Read every counter now; cumulative joules since open per domain."""
        with self._lock:
            now_s = self._clock()
            for counter in self._counters:
                counter.update(self._reader, now_s, self._note)
            return {c.zone.domain: c.total_uj / 1e6 for c in self._counters}

    @property
    def poll_interval_s(self) -> float:  # type: ignore[override]
        """A quarter of the shortest time to wrap at twice the peak power seen."""
        periods = [
            c.max_uj / 1e6 / max(PRIOR_POWER_W, 2 * c.peak_w)
            for c in self._counters
            if c.max_uj
        ]
        if not periods:
            return 1.0
        return min(MAX_POLL_S, max(MIN_POLL_S, min(periods) / 4))

    def wraps(self) -> dict[str, int]:
        """Counter wraps seen so far, per domain."""
        with self._lock:
            return {c.zone.domain: c.wraps for c in self._counters}

    def notes(self) -> list[str]:
        """Quality notes so far, in order."""
        return list(self._notes)

    def close(self) -> None:
        """Nothing to release: files are opened per read."""


def probe(root: str | os.PathLike | None = None, reader: Reader | None = None):
    """One `SensorStatus` per zone found (or one saying why there is none)."""
    reader = reader or read_sysfs
    try:
        zones = discover(root, reader)
    except SensorUnavailable as exc:
        reason, _, fix = str(exc).partition("; fix: ")
        return [SensorStatus("rapl", None, False, reason, fix, str(root or DEFAULT_ROOT))]
    return [_zone_status(zone, reader) for zone in zones]


def _zone_status(zone: Zone, reader: Reader) -> SensorStatus:
    path = os.path.join(zone.path, "energy_uj")
    label = zone.domain or f"{zone.link} ({zone.name})"
    try:
        int(reader(path))
    except PermissionError:
        reason, _, fix = permission_message(path).partition("; fix: ")
        return SensorStatus("rapl", label, False, reason, fix, path)
    except (OSError, ValueError) as exc:
        return SensorStatus("rapl", label, False, f"cannot read: {exc!s}", "", path)
    if zone.duplicate_of:
        why = f"duplicates {zone.duplicate_of}: counted once there"
        return SensorStatus("rapl", label, True, why, "", path)
    why = NOT_COUNTED.get(zone.kind, "")
    why = f"reported, not added to the total ({why})" if why else ""
    if zone.kind == "other":
        why = f"unknown zone name {zone.name!r}: reported, not added"
    if _read_max(zone, reader) is None:
        why = (why + "; " if why else "") + "max_energy_range_uj unreadable"
    return SensorStatus("rapl", label, True, why, "", path)
