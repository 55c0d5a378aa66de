"""Fakes for the sensor tests: a powercap tree on disk, a clock, an NVML stand-in."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pynvml
import pytest

from profiler.sensors import estimate, nvml


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start_s: float = 100.0):
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def tick(self, seconds: float) -> None:
        self.now_s += seconds


@dataclass
class FakeZone:
    link: str
    path: Path
    max_uj: int
    energy_uj: int = 0
    aliases: list[FakeZone] = field(default_factory=list)


def _write(path: Path, text: str) -> None:
    """Atomic write, so a concurrent reader never sees a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class FakePowercap:
    """Kernel-like layout: real zones under devices/virtual/powercap/<control>/,
    subzones nested in their zone, and class/powercap holding a link for the control
    type and for every zone and subzone."""

    def __init__(self, base: Path):
        self.devices = base / "sys" / "devices" / "virtual" / "powercap"
        self.root = base / "sys" / "class" / "powercap"
        self.devices.mkdir(parents=True)
        self.root.mkdir(parents=True)
        self.zones: dict[str, FakeZone] = {}

    def add(
        self,
        link: str,
        name: str,
        *,
        max_uj: int = 262_143_328_850,
        energy_uj: int = 0,
        with_max: bool = True,
        alias_of: str | None = None,
    ) -> FakeZone:
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
        if with_max:
            (path / "max_energy_range_uj").write_text(f"{max_uj}\n")
        zone = FakeZone(link, path, max_uj, energy_uj)
        self._set(zone, energy_uj)
        (self.root / link).symlink_to(path)
        self.zones[link] = zone
        if alias_of is not None:
            source = self.zones[alias_of]
            source.aliases.append(zone)
            self._set(zone, source.energy_uj)
        return zone

    def _set(self, zone: FakeZone, energy_uj: int) -> None:
        zone.energy_uj = energy_uj
        _write(zone.path / "energy_uj", f"{energy_uj}\n")
        for alias in zone.aliases:
            self._set(alias, energy_uj)

    def run(self, watts: dict[str, float], seconds: float) -> None:
        """Advance each named counter as if its zone drew `watts` for `seconds`."""
        for link, power_w in watts.items():
            zone = self.zones[link]
            gained = round(power_w * seconds * 1e6)
            self._set(zone, (zone.energy_uj + gained) % zone.max_uj)


@pytest.fixture
def powercap(tmp_path: Path) -> FakePowercap:
    """An empty fake powercap tree."""
    return FakePowercap(tmp_path)


@pytest.fixture
def clock() -> Clock:
    """A hand-driven clock."""
    return Clock()


@pytest.fixture(autouse=True)
def _reset_caches():
    """No cached TDP look-up leaks between tests."""
    estimate.lookup_tdp.cache_clear()
    yield
    estimate.lookup_tdp.cache_clear()


class FakeGpu:
    """One GPU of the NVML stand-in."""

    def __init__(self, uuid, *, energy=True, instant=False, power=True, mig=False):
        self.uuid, self.energy, self.instant = uuid, energy, instant
        self.power, self.mig = power, mig
        self.energy_mj = 1_000_000  # since "driver load"
        self.power_w = 0.0


class FakeNvml:
    """Replaces the real pynvml functions; constants and errors stay real."""

    def __init__(self, monkeypatch, gpus: list[FakeGpu], *, library=True):
        self.gpus = gpus
        self.migs: dict[str, int] = {}
        self.inits = 0
        monkeypatch.setattr(nvml, "driver_present", lambda: True)
        for name in dir(self):
            if name.startswith("nvml"):
                monkeypatch.setattr(pynvml, name, getattr(self, name))
        self.library = library

    def run(self, index: int, power_w: float, seconds: float) -> None:
        gpu = self.gpus[index]
        gpu.energy_mj += round(power_w * seconds * 1e3)
        gpu.power_w = power_w

    def nvmlInit(self):
        if not self.library:
            raise pynvml.NVMLError_LibraryNotFound()
        self.inits += 1

    def nvmlShutdown(self):
        self.inits -= 1

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("gpu", index)

    def nvmlDeviceGetHandleByUUID(self, uuid):
        if isinstance(uuid, bytes):
            uuid = uuid.decode()
        if uuid in self.migs:
            return ("mig", self.migs[uuid])
        raise pynvml.NVMLError_NotFound()

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, handle):
        return ("gpu", handle[1])

    def nvmlDeviceGetUUID(self, handle):
        return self.gpus[handle[1]].uuid

    def nvmlDeviceGetName(self, handle):
        return f"Fake GPU {handle[1]}"

    def nvmlDeviceGetMigMode(self, handle):
        return [int(self.gpus[handle[1]].mig), 0]

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        gpu = self.gpus[handle[1]]
        if not gpu.energy:
            raise pynvml.NVMLError_NotSupported()
        return gpu.energy_mj

    def nvmlDeviceGetFieldValues(self, handle, field_ids):
        gpu = self.gpus[handle[1]]
        values = (pynvml.c_nvmlFieldValue_t * len(field_ids))()
        for value, field_id in zip(values, field_ids):
            value.fieldId = field_id
            ok = gpu.instant and field_id == pynvml.NVML_FI_DEV_POWER_INSTANT
            value.nvmlReturn = (
                pynvml.NVML_SUCCESS if ok else pynvml.NVML_ERROR_NOT_SUPPORTED
            )
            value.value.uiVal = round(gpu.power_w * 1e3) if ok else 0
        return values

    def nvmlDeviceGetPowerUsage(self, handle):
        gpu = self.gpus[handle[1]]
        if not gpu.power:
            raise pynvml.NVMLError_NotSupported()
        return round(gpu.power_w * 1e3)


@pytest.fixture
def fake_nvml(monkeypatch):
    """Factory: install an NVML stand-in with the given GPUs."""

    def install(gpus, *, library=True, visible=None):
        if visible is None:
            monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        else:
            monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
        return FakeNvml(monkeypatch, gpus, library=library)

    return install


@pytest.fixture
def gpu():
    """The FakeGpu class, so tests need not import conftest."""
    return FakeGpu
