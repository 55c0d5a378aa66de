"""Acceptance: a fake two-socket tree with DRAM, through the Profiler, with wraps."""

from __future__ import annotations

import pytest

from profiler import Profiler
from profiler.sensors.rapl import RaplSensor


def test_two_sockets_dram_wrap_through_profiler(powercap):
    max_uj = 200_000_000  # 200 J: package-0 wraps about every 2 s at 95 W
    powercap.add("intel-rapl:0", "package-0", max_uj=max_uj, energy_uj=max_uj - 1)
    powercap.add("intel-rapl:0:0", "core", max_uj=max_uj)
    powercap.add("intel-rapl:0:1", "dram", max_uj=max_uj)
    powercap.add("intel-rapl:1", "package-1", max_uj=max_uj, energy_uj=42)
    powercap.add("intel-rapl:1:1", "dram", max_uj=max_uj, energy_uj=max_uj // 2)
    powercap.add("intel-rapl:2", "psys", max_uj=max_uj * 10)
    powercap.add("intel-rapl-mmio:0", "package-0", max_uj=max_uj)
    watts = {"intel-rapl:0": 95.0, "intel-rapl:0:1": 12.0, "intel-rapl:1": 80.0,
             "intel-rapl:1:1": 9.0, "intel-rapl:2": 300.0, "intel-rapl-mmio:0": 95.0,
             "intel-rapl:0:0": 50.0}  # fmt: skip
    sensor = RaplSensor(powercap.root)
    # The sampler thread also reads; explicit reads make the test independent of it.
    with Profiler(_sensors=[sensor], interval_s=0.01) as prof:
        for name in ("first", "second"):
            with prof.window(name, items=10):
                for _ in range(10):  # one simulated second per step
                    powercap.run(watts, 1.0)
                    sensor.read_j()
    truth_j = (95.0 + 12.0 + 80.0 + 9.0) * 10.0
    for m in prof.measurements:
        assert m.total_energy_j == pytest.approx(truth_j, rel=0.01)
        assert set(m.energy_j) == {"package-0", "package-1", "dram-0", "dram-1"}
        assert m.overlap_energy_j["psys"] == pytest.approx(3000.0, rel=0.01)
        assert m.overlap_energy_j["core-0"] == pytest.approx(500.0, rel=0.01)
        assert m.source == "rapl"
    assert len(prof.measurements) == 2
    assert sensor.wraps()["package-0"] >= 9
