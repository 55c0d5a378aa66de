"""open_sensors and probe_sensors: choice, fallback, errors, and statuses."""

from __future__ import annotations

import pytest

from profiler.errors import ConfigError, SensorPermissionError, SensorUnavailable
from profiler.sensors import open_sensors, probe_sensors, rapl


@pytest.fixture
def no_gpu(fake_nvml):
    return fake_nvml([], library=False)


def test_auto_without_rapl_falls_back_to_estimate_with_warning(tmp_path, no_gpu):
    with pytest.warns(RuntimeWarning, match="estimates"):
        sensors = open_sensors(rapl_root=tmp_path / "none")
    assert [s.source for s in sensors] == ["estimate"]
    assert any("no powercap tree" in n for n in sensors[0].notes())


def test_auto_permission_denied_falls_back(monkeypatch, powercap, no_gpu):
    powercap.add("intel-rapl:0", "package-0")

    def denied(path):
        if path.endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", path)
        return open(path).read()

    monkeypatch.setattr(rapl, "read_sysfs", denied)
    with pytest.warns(RuntimeWarning, match="permission denied"):
        sensors = open_sensors(rapl_root=powercap.root)
    assert [s.source for s in sensors] == ["estimate"]
    with pytest.raises(SensorPermissionError, match="energy_uj"):
        open_sensors(["rapl"], rapl_root=powercap.root)


def test_auto_uses_rapl_and_gpus_when_readable(powercap, fake_nvml, gpu):
    powercap.add("intel-rapl:0", "package-0")
    fake_nvml([gpu("GPU-aaaa")])
    sensors = open_sensors(rapl_root=powercap.root)
    assert [s.source for s in sensors] == ["rapl", "nvml"]


def test_explicit_sensors_raise_when_unreadable(tmp_path, no_gpu):
    with pytest.raises(SensorUnavailable, match="powercap"):
        open_sensors(["rapl"], rapl_root=tmp_path)
    with pytest.raises(SensorUnavailable, match="NVML"):
        open_sensors(["nvml"])
    with pytest.raises(ConfigError, match="unknown"):
        open_sensors(["rapl", "watts"])


def test_estimate_beside_rapl_is_not_counted(powercap, no_gpu):
    powercap.add("intel-rapl:0", "package-0")
    sensors = open_sensors(["rapl", "estimate"], rapl_root=powercap.root)
    counted = [d.name for s in sensors for d in s.domains() if d.counted]
    assert counted == ["package-0"]


def test_probe_on_a_machine_like_this_one(tmp_path, no_gpu):
    statuses = probe_sensors(rapl_root=tmp_path / "none")
    by_sensor = {s.sensor: s for s in statuses}
    assert not by_sensor["rapl"].readable and "--rapl-root" in by_sensor["rapl"].fix
    assert not by_sensor["nvml"].readable and "driver" in by_sensor["nvml"].fix
    assert by_sensor["estimate"].readable and "in use" in by_sensor["estimate"].reason
    assert "pyrapl" in by_sensor


def test_probe_real_defaults_never_raises():
    statuses = probe_sensors()
    assert {s.sensor for s in statuses} >= {"rapl", "nvml", "estimate"}
