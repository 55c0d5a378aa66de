"""NVIDIA GPU energy through NVML (`pynvml`, from nvidia-ml-py), imported lazily.

Per GPU, the total-energy counter (`nvmlDeviceGetTotalEnergyConsumption`, mJ since
driver load, Volta and newer) is preferred. Where it is NotSupported, power is sampled
(the instant-power field 186 where supported, else `nvmlDeviceGetPowerUsage`, a 1-second
average on recent GPUs) at every read and integrated with the trapezoid rule, so the
profiler must read at `poll_interval_s`. GPUs follow `CUDA_VISIBLE_DEVICES` (indices,
`GPU-` UUID prefixes, `MIG-` instances); domain `gpu-K` is what CUDA calls `cuda:K`.
A MIG instance reports its whole GPU's energy, with a note. Any GPU whose energy cannot
be read is left out with its reason, never read as zero.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from profiler.errors import MeasurementWarning, SensorUnavailable
from profiler.sensors.base import Domain, Sensor, SensorStatus

logger = logging.getLogger(__name__)

FIELD_POWER_INSTANT = 186  # pynvml.NVML_FI_DEV_POWER_INSTANT
POWER_POLL_S = 0.05
DRIVER_PATHS = ("/proc/driver/nvidia/version", "/dev/nvidiactl")
ENERGY_UPDATE_S = 0.1  # the energy counter changes every 20 to 100 ms
AVERAGE_NOTE = (
    "{domain}: no energy counter; power from nvmlDeviceGetPowerUsage, which on Ampere "
    "(except A100) and newer GPUs is a 1-second average, so short windows are smeared"
)
NO_DRIVER_FIX = (
    "install the NVIDIA driver; in a container, run it with the NVIDIA container "
    "toolkit (--gpus all)"
)


@dataclass(frozen=True)
class GpuStatus:
    """One visible GPU as probed: how its energy is read, or why it cannot be."""

    domain: str  # "gpu-K"
    index: int | None  # NVML index
    uuid: str
    name: str
    mode: str  # "energy", "power-instant", "power-average", "" when unreadable
    reason: str = ""
    notes: tuple[str, ...] = ()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_visible(value: str | None) -> list[str] | None:
    """CUDA_VISIBLE_DEVICES entries in order (None: unset, all GPUs visible)."""
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def _instant_power_w(pynvml, handle) -> float | None:
    try:
        values = pynvml.nvmlDeviceGetFieldValues(handle, [FIELD_POWER_INSTANT])
    except (pynvml.NVMLError, AttributeError):
        return None
    value = values[0]
    if value.nvmlReturn != pynvml.NVML_SUCCESS:
        return None
    return value.value.uiVal / 1e3


def _choose_mode(pynvml, handle, domain: str) -> tuple[str, str, tuple[str, ...]]:
    """(mode, reason, notes) for one GPU handle."""
    try:
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        return "energy", "", ()
    except pynvml.NVMLError_NotSupported:
        pass
    except pynvml.NVMLError as exc:
        return "", f"energy counter: {exc!s}", ()
    if _instant_power_w(pynvml, handle) is not None:
        note = f"{domain}: no energy counter; instant power sampled and integrated"
        return "power-instant", "", (note,)
    try:
        pynvml.nvmlDeviceGetPowerUsage(handle)
    except pynvml.NVMLError as exc:
        return "", f"neither energy counter nor power reading: {exc!s}", ()
    return "power-average", "", (AVERAGE_NOTE.format(domain=domain),)


def _mig_note(pynvml, handle, domain: str, instance: str) -> tuple[str, ...]:
    enabled = bool(instance)
    if not enabled:
        try:
            current = pynvml.nvmlDeviceGetMigMode(handle)[0]
            enabled = current == pynvml.NVML_DEVICE_MIG_ENABLE
        except (pynvml.NVMLError, AttributeError, TypeError, IndexError):
            enabled = False
    if not enabled:
        return ()
    return (
        f"{domain}: MIG is enabled{' (' + instance + ')' if instance else ''}; NVML has"
        " no per-instance energy, so this is the whole GPU's, other instances included",
    )


def _resolve(pynvml, entries: list[str] | None) -> tuple[list, list[str]]:
    """[(cuda ordinal, nvml index, handle, mig entry)], notes about ignored entries."""
    count = pynvml.nvmlDeviceGetCount()
    handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
    if entries is None:
        return [(i, i, h, "") for i, h in enumerate(handles)], []
    uuids = [_text(pynvml.nvmlDeviceGetUUID(h)) for h in handles]
    out, notes, seen = [], [], set()
    for entry in entries:
        found = _find(pynvml, entry, handles, uuids)
        if found is None:
            notes.append(
                f"CUDA_VISIBLE_DEVICES entry {entry!r} matches no GPU; CUDA ignores it "
                "and every later entry, and so does the profiler"
            )
            break
        index, mig = found
        if index in seen:
            notes.append(
                f"CUDA_VISIBLE_DEVICES entry {entry!r} repeats GPU {index}; "
                "its energy is counted once"
            )
            continue
        seen.add(index)
        out.append((len(out), index, handles[index], mig))
    return out, notes


def _find(pynvml, entry: str, handles: list, uuids: list[str]):
    """(nvml index, mig entry) for one CUDA_VISIBLE_DEVICES entry, None if unknown."""
    if entry.isdigit():
        index = int(entry)
        return (index, "") if index < len(handles) else None
    if entry.startswith("MIG-"):
        try:
            mig = pynvml.nvmlDeviceGetHandleByUUID(entry)
            parent = pynvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig)
            uuid = _text(pynvml.nvmlDeviceGetUUID(parent))
        except (pynvml.NVMLError, AttributeError):
            return None
        return (uuids.index(uuid), entry) if uuid in uuids else None
    matches = [i for i, uuid in enumerate(uuids) if uuid.startswith(entry)]
    return (matches[0], "") if len(matches) == 1 else None


def _import_pynvml():
    try:
        import pynvml
    except ImportError as exc:
        raise SensorUnavailable(
            "the pynvml module is not installed; fix: pip install nvidia-ml-py"
        ) from exc
    return pynvml


def driver_present() -> bool:
    """Cheap check before importing pynvml (about 30 ms): is an NVIDIA driver loaded?"""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.path.exists(p) for p in DRIVER_PATHS)


def init_nvml():
    """Import pynvml and call nvmlInit; SensorUnavailable with the fix on failure."""
    if not driver_present():
        raise SensorUnavailable(
            f"no NVIDIA driver loaded (none of {', '.join(DRIVER_PATHS)} exists); fix: "
            f"{NO_DRIVER_FIX}"
        )
    pynvml = _import_pynvml()
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound as exc:
        raise SensorUnavailable(
            f"NVML library (libnvidia-ml.so.1) not found: no NVIDIA driver here; fix: "
            f"{NO_DRIVER_FIX}"
        ) from exc
    except pynvml.NVMLError as exc:
        raise SensorUnavailable(
            f"nvmlInit failed ({exc!s}); fix: {NO_DRIVER_FIX}"
        ) from exc
    return pynvml


def probe_gpus(pynvml, environ=os.environ) -> tuple[list[GpuStatus], list[str]]:
    """Every visible GPU with its mode or reason; notes about CUDA_VISIBLE_DEVICES."""
    gpus, notes = _resolve(pynvml, parse_visible(environ.get("CUDA_VISIBLE_DEVICES")))
    out = []
    for ordinal, index, handle, mig in gpus:
        domain = f"gpu-{ordinal}"
        try:
            name = _text(pynvml.nvmlDeviceGetName(handle))
            uuid = _text(pynvml.nvmlDeviceGetUUID(handle))
        except pynvml.NVMLError as exc:
            out.append(GpuStatus(domain, index, "", "", "", f"GPU query failed: {exc!s}"))
            continue
        mode, reason, mode_notes = _choose_mode(pynvml, handle, domain)
        extra = _mig_note(pynvml, handle, domain, mig)
        out.append(GpuStatus(domain, index, uuid, name, mode, reason, mode_notes + extra))
    return out, notes


class _Gpu:
    """Cumulative joules of one GPU. Callers hold the sensor lock."""

    def __init__(self, pynvml, handle, status: GpuStatus, now_s: float):
        self.pynvml, self.handle, self.status = pynvml, handle, status
        self.total_j = 0.0
        self.last_s = now_s
        self.last = self._sample()

    def _sample(self) -> float:
        """mJ of the counter, or watts of power, depending on the mode."""
        if self.status.mode == "energy":
            return float(self.pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))
        if self.status.mode == "power-instant":
            watts = _instant_power_w(self.pynvml, self.handle)
            if watts is None:
                raise self.pynvml.NVMLError(self.pynvml.NVML_ERROR_NOT_SUPPORTED)
            return watts
        return self.pynvml.nvmlDeviceGetPowerUsage(self.handle) / 1e3

    def update(self, now_s: float, note: Callable[[str], None]) -> None:
        try:
            value = self._sample()
        except self.pynvml.NVMLError as exc:
            note(
                f"{self.status.domain}: NVML read failed ({exc!s}); "
                "the interval is bridged by the next good read"
            )
            return
        if self.status.mode == "energy" and value < self.last:
            note(
                f"{self.status.domain}: the NVML energy counter went down from "
                f"{self.last:.0f} to {value:.0f} mJ (driver reloaded?); the energy of "
                f"that {now_s - self.last_s:.3f} s interval is unknown and not counted"
            )
        elif self.status.mode == "energy":
            self.total_j += (value - self.last) / 1e3
        else:
            self.total_j += (value + self.last) / 2 * (now_s - self.last_s)
        self.last, self.last_s = value, now_s


class NvmlSensor(Sensor):
    """Every readable visible GPU, one domain each."""

    source = "nvml"

    def __init__(
        self, *, environ=os.environ, clock: Callable[[], float] = time.monotonic
    ):
        self._pynvml = init_nvml()
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        try:
            self.statuses, notes = probe_gpus(self._pynvml, environ)
            self._notes = list(notes)
            handles = _handles(self._pynvml, self.statuses)
            now_s = clock()
            self._gpus = [
                _Gpu(self._pynvml, handles[s.index], s, now_s)
                for s in self.statuses
                if s.mode
            ]
        except self._pynvml.NVMLError as exc:
            self.close()
            raise SensorUnavailable(
                f"NVML GPU enumeration failed ({exc!s}); fix: check nvidia-smi"
            ) from exc
        for status in self.statuses:
            self._notes.extend(status.notes)
            if not status.mode:
                self._notes.append(f"{status.domain}: left out: {status.reason}")
        if not self._gpus:
            self.close()
            raise SensorUnavailable(
                "NVML found no GPU whose energy or power can be read "
                f"({'; '.join(self._notes) or 'no visible GPU'}); fix: check "
                "CUDA_VISIBLE_DEVICES and nvidia-smi"
            )
        for gpu in self._gpus:
            if gpu.status.mode == "power-average":
                warnings.warn(
                    AVERAGE_NOTE.format(domain=gpu.status.domain),
                    MeasurementWarning,
                    stacklevel=2,
                )
        self._domains = tuple(_domain(g.status) for g in self._gpus)

    def _note(self, text: str) -> None:
        self._notes.append(text)
        logger.warning("%s", text)

    def domains(self) -> tuple[Domain, ...]:
        """One "gpu-K" domain per readable GPU."""
        return self._domains

    @property
    def poll_interval_s(self) -> float:  # type: ignore[override]
        """Power-sampled GPUs need frequent reads; the energy counter does not."""
        sampled = any(g.status.mode != "energy" for g in self._gpus)
        return POWER_POLL_S if sampled else math.inf

    def read_j(self) -> dict[str, float]:
        """Joules per GPU since open."""
        with self._lock:
            now_s = self._clock()
            for gpu in self._gpus:
                gpu.update(now_s, self._note)
            return {g.status.domain: g.total_j for g in self._gpus}

    def notes(self) -> list[str]:
        """Mode notes (1-second average, MIG) and read failures, in order."""
        return list(self._notes)

    def close(self) -> None:
        """Shut NVML down once."""
        if self._closed:
            return
        self._closed = True
        try:
            self._pynvml.nvmlShutdown()
        except self._pynvml.NVMLError as exc:
            logger.debug("nvmlShutdown: %s", exc)


def _handles(pynvml, statuses: list[GpuStatus]) -> dict[int, object]:
    return {
        s.index: pynvml.nvmlDeviceGetHandleByIndex(s.index)
        for s in statuses
        if s.index is not None
    }


def _domain(status: GpuStatus) -> Domain:
    period = ENERGY_UPDATE_S if status.mode == "energy" else POWER_POLL_S
    if status.mode == "power-average":
        period = 1.0
    detail = f"{status.name} {status.uuid} (NVML index {status.index}, {status.mode})"
    return Domain(status.domain, "gpu", "nvml", True, period, detail)


def probe(environ=os.environ) -> list[SensorStatus]:
    """`SensorStatus` per visible GPU, or one saying why NVML cannot be used."""
    try:
        pynvml = init_nvml()
    except SensorUnavailable as exc:
        reason, _, fix = str(exc).partition("; fix: ")
        return [SensorStatus("nvml", None, False, reason, fix, "libnvidia-ml.so.1")]
    try:
        gpus, notes = probe_gpus(pynvml, environ)
    except pynvml.NVMLError as exc:
        return [SensorStatus("nvml", None, False, f"GPU enumeration failed: {exc!s}")]
    finally:
        pynvml.nvmlShutdown()
    out = [_gpu_status(g) for g in gpus]
    if not gpus:
        reason = "; ".join(notes) or "NVML sees no visible GPU (CUDA_VISIBLE_DEVICES?)"
        out.append(SensorStatus("nvml", None, False, reason, "check nvidia-smi"))
    return out


def _gpu_status(gpu: GpuStatus) -> SensorStatus:
    detail = f"{gpu.name} {gpu.uuid}".strip()
    if not gpu.mode:
        return SensorStatus("nvml", gpu.domain, False, gpu.reason, "", detail)
    reason = "; ".join(n.partition(": ")[2] for n in gpu.notes) or "energy counter"
    return SensorStatus("nvml", gpu.domain, True, reason, "", detail)
