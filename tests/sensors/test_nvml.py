"""NVML sensor against a stand-in that keeps pynvml's real constants and errors."""

from __future__ import annotations

import pytest

from profiler.errors import SensorUnavailable
from profiler.sensors import nvml
from profiler.sensors.nvml import NvmlSensor


def test_energy_counter_preferred(fake_nvml, clock, gpu):
    fake = fake_nvml([gpu("GPU-aaaa"), gpu("GPU-bbbb")])
    sensor = NvmlSensor(clock=clock)
    assert [d.name for d in sensor.domains()] == ["gpu-0", "gpu-1"]
    assert sensor.domains()[0].update_period_s == pytest.approx(0.1)
    assert sensor.read_j() == {"gpu-0": 0.0, "gpu-1": 0.0}  # counted from open
    fake.run(0, power_w=250.0, seconds=2.0)
    fake.run(1, power_w=100.0, seconds=2.0)
    assert sensor.read_j() == pytest.approx({"gpu-0": 500.0, "gpu-1": 200.0})
    sensor.close()
    sensor.close()
    assert fake.inits == 0


def test_not_supported_falls_back_to_instant_power(fake_nvml, clock, gpu):
    fake = fake_nvml([gpu("GPU-aaaa", energy=False, instant=True)])
    sensor = NvmlSensor(clock=clock)
    assert sensor.poll_interval_s == nvml.POWER_POLL_S
    for power_w in (100.0, 200.0, 200.0):  # trapezoid: 150*1 + 200*1
        fake.run(0, power_w, 1.0)
        clock.tick(1.0)
        sensor.read_j()
    fake.gpus[0].power_w = 0.0  # started at 0 W: first interval 0..100 W = 50 J
    assert sensor.read_j()["gpu-0"] == pytest.approx(50.0 + 150.0 + 200.0)
    assert any("instant power" in n for n in sensor.notes())


def test_power_only_notes_one_second_average(fake_nvml, clock, gpu):
    fake = fake_nvml([gpu("GPU-aaaa", energy=False, instant=False)])
    with pytest.warns(RuntimeWarning, match="1-second average"):
        sensor = NvmlSensor(clock=clock)
    fake.gpus[0].power_w = 60.0
    sensor.read_j()  # 0 W at open, 60 W now, no time elapsed
    for _ in range(4):
        clock.tick(0.5)
        sensor.read_j()
    assert sensor.read_j()["gpu-0"] == pytest.approx(60.0 * 2.0)
    assert sensor.domains()[0].update_period_s == 1.0
    assert any("1-second average" in n for n in sensor.notes())


def test_library_missing_is_unavailable_with_reason(fake_nvml):
    fake_nvml([], library=False)
    with pytest.raises(SensorUnavailable, match="libnvidia-ml"):
        NvmlSensor()
    (status,) = nvml.probe()
    assert not status.readable and "driver" in status.fix


def test_no_driver_files_skips_the_import(monkeypatch, tmp_path):
    monkeypatch.setattr(nvml, "DRIVER_PATHS", (str(tmp_path / "nvidiactl"),))
    monkeypatch.setattr(nvml.sys, "platform", "linux")
    with pytest.raises(SensorUnavailable, match="no NVIDIA driver loaded"):
        nvml.init_nvml()


def test_gpu_without_energy_or_power_degrades_alone(fake_nvml, clock, gpu):
    fake_nvml([gpu("GPU-aaaa", energy=False, power=False), gpu("GPU-bbbb")])
    sensor = NvmlSensor(clock=clock)
    assert [d.name for d in sensor.domains()] == ["gpu-1"]
    assert any("gpu-0: left out" in n for n in sensor.notes())
    statuses = {s.domain: s for s in nvml.probe()}
    assert not statuses["gpu-0"].readable and "Not Supported" in statuses["gpu-0"].reason
    assert statuses["gpu-1"].readable


def test_cuda_visible_devices_indices_and_uuid_prefixes(fake_nvml, clock, gpu):
    gpus = [gpu("GPU-aaaa-1"), gpu("GPU-bbbb-2"), gpu("GPU-cccc-3")]
    fake = fake_nvml(gpus, visible="2,GPU-aaaa")
    sensor = NvmlSensor(clock=clock)
    assert [d.name for d in sensor.domains()] == ["gpu-0", "gpu-1"]
    assert "GPU-cccc-3" in sensor.domains()[0].detail
    fake.run(2, 100.0, 1.0)
    assert sensor.read_j() == pytest.approx({"gpu-0": 100.0, "gpu-1": 0.0})


def test_invalid_visible_entry_stops_like_cuda(fake_nvml, clock, gpu):
    fake_nvml([gpu("GPU-aaaa"), gpu("GPU-bbbb")], visible="1,7,0")
    sensor = NvmlSensor(clock=clock)
    assert [d.detail.split()[3] for d in sensor.domains()] == ["GPU-bbbb"]
    assert any("'7' matches no GPU" in n for n in sensor.notes())


def test_empty_visible_list_means_no_gpu(fake_nvml, gpu):
    fake_nvml([gpu("GPU-aaaa")], visible="")
    with pytest.raises(SensorUnavailable):
        NvmlSensor()


def test_mig_reports_whole_gpu_with_a_note(fake_nvml, clock, gpu):
    fake = fake_nvml([gpu("GPU-aaaa", mig=True)], visible="MIG-1234,MIG-5678")
    fake.migs = {"MIG-1234": 0, "MIG-5678": 0}
    sensor = NvmlSensor(clock=clock)
    assert [d.name for d in sensor.domains()] == ["gpu-0"]  # same GPU counted once
    assert any("whole GPU" in n for n in sensor.notes())
    assert any("counted once" in n for n in sensor.notes())
    fake.run(0, 300.0, 1.0)
    assert sensor.read_j()["gpu-0"] == pytest.approx(300.0)


def test_unknown_mig_entry_never_crashes(fake_nvml, gpu):
    fake_nvml([gpu("GPU-aaaa", mig=True)], visible="MIG-dead")
    with pytest.raises(SensorUnavailable, match="matches no GPU"):
        NvmlSensor()


def test_energy_counter_going_down_is_noted_not_counted(fake_nvml, clock, gpu):
    fake = fake_nvml([gpu("GPU-aaaa")])
    sensor = NvmlSensor(clock=clock)
    fake.run(0, power_w=200.0, seconds=1.0)
    clock.tick(1.0)
    assert sensor.read_j()["gpu-0"] == pytest.approx(200.0)
    fake.gpus[0].energy_mj = 5_000  # the driver was reloaded: the counter restarts
    clock.tick(1.0)
    assert sensor.read_j()["gpu-0"] == pytest.approx(200.0)  # never negative
    assert any("went down" in n and "not counted" in n for n in sensor.notes())
    fake.run(0, power_w=100.0, seconds=1.0)  # counting resumes from the new value
    clock.tick(1.0)
    assert sensor.read_j()["gpu-0"] == pytest.approx(300.0)
