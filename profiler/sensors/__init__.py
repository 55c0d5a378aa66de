"""Energy sensors: RAPL (powercap), NVML GPUs, and the CPU-time estimate.

`open_sensors` picks and opens them; `probe_sensors` says, for the `sensors` command,
what is readable here and, for what is not, why and how to fix it. Nothing is opened or
imported from a hardware library until one of these is called.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import warnings
from collections.abc import Sequence

from profiler.errors import ConfigError, MeasurementWarning, SensorUnavailable
from profiler.sensors.base import Domain, Sensor, SensorStatus

logger = logging.getLogger(__name__)

__all__ = ["Domain", "Sensor", "SensorStatus", "open_sensors", "probe_sensors", "KNOWN"]

KNOWN = ("rapl", "nvml", "estimate")


def _names(sensors: str | Sequence[str]) -> list[str]:
    if isinstance(sensors, str):
        names = [s.strip() for s in sensors.split(",") if s.strip()]
    else:
        names = list(sensors)
    if names == ["auto"]:
        return names
    unknown = [n for n in names if n not in KNOWN]
    if unknown or not names:
        raise ConfigError(
            f"sensors={sensors!r}: unknown {unknown or 'empty list'}; use 'auto' or a "
            f"list of {', '.join(KNOWN)}"
        )
    return list(dict.fromkeys(names))


def _open_rapl(rapl_root, explicit: bool) -> tuple[Sensor | None, str]:
    from profiler.sensors.rapl import RaplSensor

    try:
        return RaplSensor(rapl_root), ""
    except SensorUnavailable as exc:
        if explicit:
            raise
        return None, str(exc)


def _open_nvml(explicit: bool) -> Sensor | None:
    from profiler.sensors.nvml import NvmlSensor

    try:
        return NvmlSensor()
    except SensorUnavailable as exc:
        if explicit:
            raise
        logger.info("no NVML GPU: %s", exc)
        return None


def open_sensors(
    sensors: str | Sequence[str] = "auto",
    *,
    rapl_root: str | os.PathLike | None = None,
    cpu_tdp_w: float | None = None,
) -> list[Sensor]:
    """Open the sensors asked for.

    "auto": RAPL if readable, else the estimate (with a warning), plus NVML GPUs when
    available. An explicit "rapl" or "nvml" that cannot be read raises
    SensorUnavailable (SensorPermissionError for an unreadable energy_uj). With both
    "rapl" and "estimate", the estimate is reported but not counted.
    """
    from profiler.sensors.estimate import EstimateSensor

    names = _names(sensors)
    auto = names == ["auto"]
    opened: list[Sensor] = []
    try:
        rapl, why = (None, "")
        if auto or "rapl" in names:
            rapl, why = _open_rapl(rapl_root, explicit=not auto)
        if rapl is not None:
            opened.append(rapl)
        if auto or "nvml" in names:
            gpu = _open_nvml(explicit=not auto)
            opened.extend([gpu] if gpu is not None else [])
        if (auto and rapl is None) or "estimate" in names:
            opened.append(_estimate(EstimateSensor, cpu_tdp_w, rapl, why, auto))
    except BaseException:
        for sensor in opened:
            sensor.close()
        raise
    return opened


def _estimate(cls, cpu_tdp_w, rapl, why: str, auto: bool):
    if rapl is not None:
        note = "cpu estimate reported beside RAPL, not added to the total"
        return cls(cpu_tdp_w, counted=False, notes=[note])
    notes = []
    if auto:
        text = f"no readable CPU energy counter ({why}); CPU figures are estimates"
        warnings.warn(text, MeasurementWarning, stacklevel=4)
        notes.append(text)
    return cls(cpu_tdp_w, notes=notes)


def probe_sensors(*, rapl_root: str | os.PathLike | None = None) -> list[SensorStatus]:
    """Status of every sensor and domain: readable or not, why, and the fix."""
    from profiler.sensors import nvml, rapl
    from profiler.sensors.estimate import guess_tdp

    rapl_statuses = rapl.probe(rapl_root)
    out = list(rapl_statuses)
    out.extend(nvml.probe())
    cpu_read = any(
        s.readable and (s.domain or "").startswith("package") for s in rapl_statuses
    )
    guess = guess_tdp()
    if cpu_read:
        why = "available; not used because RAPL is readable"
    else:
        why = f"in use because no RAPL counter is readable; {guess.describe()}"
    out.append(SensorStatus("estimate", "cpu", True, why, "", "/proc/cpuinfo"))
    out.append(_pyrapl_status())
    return out


def _pyrapl_status() -> SensorStatus:
    if importlib.util.find_spec("pyRAPL") is None:
        return SensorStatus(
            "pyrapl",
            None,
            False,
            "not installed (optional cross-check only)",
            "pip install 'energy-profiler[pyrapl]'",
        )
    return SensorStatus(
        "pyrapl",
        None,
        True,
        "installed; used only as cross_check='pyrapl' (setup not tried here)",
    )
