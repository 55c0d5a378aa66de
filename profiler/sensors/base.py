"""The one interface every energy sensor implements.

A sensor turns hardware counters into cumulative joules per *domain* (a CPU package,
its DRAM, one GPU). Readings are converted to SI at this boundary. A sensor never
returns a made-up zero: an unreadable counter raises, and a doubtful sample is
recorded in `notes()`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

SOURCES = ("rapl", "nvml", "estimate")


@dataclass(frozen=True)
class Domain:
    """One energy domain a sensor reports.

    `counted` is False for domains that overlap others (psys, core, uncore): they are
    reported beside the total but never added to it.
    """

    name: str  # unique across sensors: "package-0", "dram-0", "psys", "gpu-0", "cpu"
    kind: str  # "package", "core", "uncore", "dram", "psys", "gpu", "cpu"
    source: str  # one of SOURCES
    counted: bool = True
    update_period_s: float = 0.001  # how often the underlying value changes
    detail: str = ""  # free text: a sysfs path, a GPU name and UUID


@dataclass(frozen=True)
class SensorStatus:
    """What `energy-profiler sensors` says about one sensor or domain."""

    sensor: str  # "rapl", "nvml", "estimate", "pyrapl"
    domain: str | None
    readable: bool
    reason: str = ""  # why it is not readable (or a caveat when it is)
    fix: str = ""  # what the user can do about it
    path: str = ""  # the file or library involved


class Sensor(ABC):
    """Cumulative energy per domain since `open`; thread-safe `read_j`."""

    source: str = ""

    #: How often the profiler's sampler must call `read_j` for the figures to stay
    #: right (counter wrap safety, power integration). `math.inf`: no need.
    poll_interval_s: float = math.inf

    @abstractmethod
    def domains(self) -> tuple[Domain, ...]:
        """The domains this sensor reports, fixed once it is open."""

    @abstractmethod
    def read_j(self) -> dict[str, float]:
        """Joules per domain since the sensor was opened; never decreasing."""

    def notes(self) -> list[str]:
        """Quality notes gathered so far (a wrap without max, a dropped sample)."""
        return []

    def close(self) -> None:
        """Release handles. Safe to call twice."""
        return None
