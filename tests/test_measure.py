"""Profiler, windows and Measurement, with sensors driven at a known power."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import types

import pytest

from profiler import Measurement, Profiler
from profiler.errors import ConfigError, ProfilerError
from profiler.sensors.base import Domain, Sensor


class FakeSensor(Sensor):
    """Joules set by the test, plus an optional constant power over real time."""

    source = "rapl"

    def __init__(self, *, base_w=0.0, period_s=0.001):
        self.extra = {"package-0": 0.0, "psys": 0.0}
        self.base_w = base_w
        self.t0 = time.perf_counter()
        self.frozen_at: float | None = None
        self._lock = threading.Lock()
        self._notes: list[str] = ["fake sensor"]
        self._domains = (
            Domain("package-0", "package", "rapl", True, period_s),
            Domain("psys", "psys", "rapl", False, period_s),
        )
        self.closed = 0

    def domains(self):
        return self._domains

    def read_j(self):
        with self._lock:
            now = self.frozen_at if self.frozen_at is not None else time.perf_counter()
            base = self.base_w * (now - self.t0)
            return {d: base + e for d, e in self.extra.items()}

    def notes(self):
        return list(self._notes)

    def close(self):
        self.closed += 1


def test_window_energy_from_known_joules():
    sensor = FakeSensor()
    with Profiler(_sensors=[sensor]) as prof, prof.window("dense", items=4):
        sensor.extra["package-0"] += 5.0
        sensor.extra["psys"] += 7.0
    m = prof.measurements[-1]
    assert isinstance(m, Measurement)
    assert dict(m.energy_j) == {"package-0": 5.0}
    assert dict(m.overlap_energy_j) == {"psys": 7.0}
    assert m.total_energy_j == 5.0 and m.energy_per_item_j == 1.25
    assert m.source == "rapl" and m.items == 4 and not m.failed
    assert m.avg_power_w == pytest.approx(5.0 / m.duration_s)
    assert "fake sensor" in m.notes
    assert m.to_dict()["total_energy_j"] == 5.0
    assert sensor.closed == 1


def test_nested_and_overlapping_windows():
    sensor = FakeSensor()
    with Profiler(_sensors=[sensor]) as prof:
        outer = prof.window("outer").__enter__()
        sensor.extra["package-0"] += 1.0
        with prof.window("inner"):
            sensor.extra["package-0"] += 2.0
        other = prof.window("other").__enter__()
        sensor.extra["package-0"] += 4.0
        outer.__exit__(None, None, None)
        sensor.extra["package-0"] += 8.0
        other.__exit__(None, None, None)
    got = {m.name: m.total_energy_j for m in prof.measurements}
    assert got == {"inner": 2.0, "outer": 7.0, "other": 12.0}
    assert outer.measurement is not None and outer.measurement.name == "outer"


def test_exception_propagates_and_window_is_recorded_failed():
    sensor = FakeSensor()
    prof = Profiler(_sensors=[sensor]).start()
    with pytest.raises(ValueError, match="boom"), prof.window("bad", items=1):
        sensor.extra["package-0"] += 3.0
        raise ValueError("boom")
    prof.stop()
    m = prof.measurements[-1]
    assert m.failed and m.error == "ValueError: boom" and m.total_energy_j == 3.0


def test_idle_baseline_gives_net_energy():
    sensor = FakeSensor(base_w=10.0)
    with Profiler(_sensors=[sensor], idle_s=0.05) as prof:
        assert prof.idle_power_w["package-0"] == pytest.approx(10.0, rel=1e-3)
        assert "psys" not in prof.idle_power_w
        with prof.window("w", items=2):
            sensor.extra["package-0"] += 3.0
        m = prof.measurements[-1]
        assert m.net_total_energy_j == pytest.approx(3.0, abs=1e-3)
        assert m.net_energy_per_item_j == pytest.approx(1.5, abs=1e-3)
        assert m.total_energy_j > m.net_total_energy_j
        sensor.frozen_at = time.perf_counter()  # power drops below idle
        with prof.window("below-idle"):
            time.sleep(0.01)
    m = prof.measurements[-1]
    assert m.net_energy_j["package-0"] == 0.0
    assert any("net clipped at 0" in n for n in m.notes)


def test_short_window_low_confidence_and_zero_flagged():
    sensor = FakeSensor(period_s=1.0)
    with Profiler(_sensors=[sensor]) as prof, prof.window("tiny"):
        pass
    notes = " ".join(prof.measurements[-1].notes)
    assert "low confidence" in notes and "package-0" in notes
    assert "did not advance" in notes


def test_frames_and_timeline():
    sensor = FakeSensor(base_w=10.0)
    with Profiler(_sensors=[sensor], interval_s=0.01) as prof:
        with prof.window("w", items=5):
            sensor.extra["package-0"] += 1.0
        time.sleep(0.1)
    frame = prof.to_dataframe()
    assert list(frame["domain"]) == ["package-0", "psys"]
    assert list(frame["counted"]) == [True, False]
    assert {"window", "energy_j", "net_energy_j", "source", "items"} <= set(frame)
    timeline = prof.timeline()
    assert list(timeline.columns) == ["time_s", "domain", "power_w", "source"]
    pkg = timeline[timeline["domain"] == "psys"]
    assert len(pkg) >= 3 and pkg["power_w"].median() == pytest.approx(10.0, rel=0.05)


def test_estimate_on_this_machine(tmp_path):
    with pytest.warns(RuntimeWarning, match="estimates"):
        prof = Profiler(rapl_root=str(tmp_path / "none")).start()
    try:
        with prof.window("work", items=10):
            sum(range(200_000))
    finally:
        prof.stop()
        prof.stop()
    m = prof.measurements[-1]
    assert m.source == "estimate" and set(m.energy_j) == {"cpu"}
    assert m.total_energy_j > 0
    assert any("estimate" in n for n in m.notes)


def test_cross_check_unavailable_is_noted(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyRAPL", None)
    with pytest.warns(RuntimeWarning, match="pyRAPL"):
        prof = Profiler(_sensors=[FakeSensor()], cross_check="pyrapl").start()
    with prof.window("w"):
        pass
    prof.stop()
    assert any("pyRAPL cross-check unavailable" in n for n in prof.measurements[-1].notes)


def test_cuda_synchronised_only_when_initialised(monkeypatch):
    calls = []
    cuda = types.SimpleNamespace(
        is_initialized=lambda: state["init"], synchronize=lambda: calls.append(1)
    )
    state = {"init": False}
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    with Profiler(_sensors=[FakeSensor()]) as prof:
        with prof.window("cpu"):
            pass
        assert calls == []
        state["init"] = True
        with prof.window("gpu"):
            pass
    assert len(calls) == 2


def test_misuse_raises_clear_errors():
    with pytest.raises(ProfilerError, match="start"), Profiler().window("w"):
        pass
    with pytest.raises(ConfigError, match="interval_s"):
        Profiler(interval_s=0)
    with pytest.raises(ConfigError, match="cross_check"):
        Profiler(cross_check="perf")
    prof = Profiler(_sensors=[FakeSensor()])
    with pytest.raises(ConfigError, match="items"):
        prof.window("w", items=-1)


def test_import_is_fast_and_does_nothing():
    code = (
        "import sys, profiler; "
        "print(any(m in sys.modules for m in ('torch', 'pandas', 'pynvml', 'psutil')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
