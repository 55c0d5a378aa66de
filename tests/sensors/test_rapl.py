"""RAPL sensor against fake powercap trees driven at a known power."""

from __future__ import annotations

import os

import pytest

from profiler.errors import SensorPermissionError, SensorUnavailable
from profiler.sensors import rapl
from profiler.sensors.rapl import RaplSensor


def two_sockets(tree, max_uj=262_143_328_850):
    tree.add("intel-rapl:0", "package-0", max_uj=max_uj, energy_uj=max_uj - 1_000_000)
    tree.add("intel-rapl:0:0", "core", max_uj=max_uj)
    tree.add("intel-rapl:0:1", "dram", max_uj=max_uj, energy_uj=5)
    tree.add("intel-rapl:1", "package-1", max_uj=max_uj, energy_uj=123_456)
    tree.add("intel-rapl:1:0", "core", max_uj=max_uj)
    tree.add("intel-rapl:1:1", "dram", max_uj=max_uj, energy_uj=max_uj - 10)


POWER_W = {
    "intel-rapl:0": 95.0,
    "intel-rapl:0:0": 60.0,
    "intel-rapl:0:1": 12.5,
    "intel-rapl:1": 80.0,
    "intel-rapl:1:0": 50.0,
    "intel-rapl:1:1": 10.0,
}


def drive(tree, sensor, clock, watts, seconds, steps):
    for _ in range(steps):
        tree.run(watts, seconds / steps)
        clock.tick(seconds / steps)
        sensor.read_j()


def test_every_zone_seen_once_despite_class_links_and_nesting(powercap):
    two_sockets(powercap)
    # Both the class links and the nested real folders exist, as in the kernel.
    assert (powercap.root / "intel-rapl:0:1").is_symlink()
    assert (powercap.root / "intel-rapl:0" / "intel-rapl:0:1").is_dir()
    names = [d.name for d in RaplSensor(powercap.root).domains()]
    assert sorted(names) == ["core-0", "core-1", "dram-0", "dram-1", "package-0",
                             "package-1"]  # fmt: skip


def test_root_may_be_the_devices_folder(powercap):
    two_sockets(powercap)
    names = {d.name for d in RaplSensor(powercap.devices).domains()}
    assert names == {"core-0", "core-1", "dram-0", "dram-1", "package-0", "package-1"}


def test_two_sockets_with_dram_and_a_wrap_within_one_percent(powercap, clock):
    max_uj = 60_000_000  # 60 J range: package-0 wraps about 3 times in 2 s at 95 W
    two_sockets(powercap, max_uj=max_uj)
    sensor = RaplSensor(powercap.root, clock=clock)
    counted = {d.name for d in sensor.domains() if d.counted}
    assert counted == {"package-0", "package-1", "dram-0", "dram-1"}
    start = sensor.read_j()
    drive(powercap, sensor, clock, POWER_W, seconds=2.0, steps=20)
    end = sensor.read_j()
    truth_j = (95.0 + 12.5 + 80.0 + 10.0) * 2.0
    total_j = sum(end[d] - start[d] for d in counted)
    assert total_j == pytest.approx(truth_j, rel=0.01)
    assert end["core-0"] - start["core-0"] == pytest.approx(120.0, rel=0.01)
    assert sensor.wraps()["package-0"] >= 3
    assert sensor.wraps()["dram-1"] >= 1


def test_one_wrap(powercap, clock):
    powercap.add("intel-rapl:0", "package-0", max_uj=1_000_000_000, energy_uj=999_000_000)
    sensor = RaplSensor(powercap.root, clock=clock)
    drive(powercap, sensor, clock, {"intel-rapl:0": 20.0}, seconds=0.5, steps=1)
    assert sensor.read_j()["package-0"] == pytest.approx(10.0, rel=1e-6)
    assert sensor.wraps()["package-0"] == 1


def test_poll_interval_follows_range_and_observed_power(powercap, clock):
    powercap.add("intel-rapl:0", "package-0", max_uj=100_000_000)  # 100 J
    sensor = RaplSensor(powercap.root, clock=clock)
    first = sensor.poll_interval_s
    assert first == pytest.approx(100 / rapl.PRIOR_POWER_W / 4)
    drive(powercap, sensor, clock, {"intel-rapl:0": 1000.0}, seconds=0.01, steps=1)
    assert sensor.poll_interval_s == pytest.approx(100 / 2000 / 4, rel=0.01)


def test_psys_reported_never_added(powercap, clock):
    powercap.add("intel-rapl:0", "package-0")
    powercap.add("intel-rapl:1", "psys")
    sensor = RaplSensor(powercap.root, clock=clock)
    domains = {d.name: d for d in sensor.domains()}
    assert domains["psys"].counted is False and domains["package-0"].counted is True
    assert domains["psys"].kind == "psys"


def test_mmio_duplicate_of_msr_package_counts_once(powercap, clock):
    powercap.add("intel-rapl:0", "package-0")
    powercap.add("intel-rapl:0:0", "core")
    powercap.add("intel-rapl-mmio:0", "package-0", energy_uj=777)
    sensor = RaplSensor(powercap.root, clock=clock)
    assert [d.name for d in sensor.domains() if d.counted] == ["package-0"]
    assert "intel-rapl:0 " in sensor.domains()[0].detail  # the MSR zone is kept
    dup = [z for z in sensor.zones if z.link == "intel-rapl-mmio:0"]
    assert dup[0].duplicate_of == "intel-rapl:0"
    drive(powercap, sensor, clock, {"intel-rapl:0": 30, "intel-rapl-mmio:0": 30}, 1, 2)
    assert sum(sensor.read_j()[d.name] for d in sensor.domains() if d.counted) == (
        pytest.approx(30.0)
    )


def test_die_zones_reporting_one_counter_count_once(powercap, clock):
    powercap.add("intel-rapl:0", "package-0-die-0")
    powercap.add("intel-rapl:0:0", "dram")
    powercap.add("intel-rapl:1", "package-0-die-1", alias_of="intel-rapl:0")
    powercap.add("intel-rapl:1:0", "dram", alias_of="intel-rapl:0:0")
    sensor = RaplSensor(powercap.root, clock=clock)
    assert sorted(d.name for d in sensor.domains()) == ["dram-0", "package-0"]
    drive(powercap, sensor, clock, {"intel-rapl:0": 40.0, "intel-rapl:0:0": 5.0}, 1, 4)
    values = sensor.read_j()
    assert values["package-0"] + values["dram-0"] == pytest.approx(45.0)


def test_die_zones_with_separate_counters_both_count(powercap, clock):
    powercap.add("intel-rapl:0", "package-0-die-0", energy_uj=1_000)
    powercap.add("intel-rapl:1", "package-0-die-1", energy_uj=987_654_321)
    sensor = RaplSensor(powercap.root, clock=clock)
    assert sorted(d.name for d in sensor.domains()) == [
        "package-0-die-0",
        "package-0-die-1",
    ]
    drive(powercap, sensor, clock, {"intel-rapl:0": 40.0, "intel-rapl:1": 30.0}, 1, 2)
    assert sum(sensor.read_j().values()) == pytest.approx(70.0)


def test_amd_layout_package_and_core_no_dram(powercap, clock):
    powercap.add("intel-rapl:0", "package-0", max_uj=65_532_610_987)
    powercap.add("intel-rapl:0:0", "core", max_uj=65_532_610_987)
    powercap.add("intel-rapl:1", "package-1", max_uj=65_532_610_987)
    sensor = RaplSensor(powercap.root, clock=clock)
    counted = sorted(d.name for d in sensor.domains() if d.counted)
    assert counted == ["package-0", "package-1"]
    drive(powercap, sensor, clock, {"intel-rapl:0": 100.0, "intel-rapl:1": 90.0}, 2, 2)
    assert sum(sensor.read_j()[d] for d in counted) == pytest.approx(380.0)


def test_missing_max_file_never_gives_negative_energy(powercap, clock):
    zone = powercap.add("intel-rapl:0", "package-0", max_uj=10_000_000, with_max=False)
    with pytest.warns(RuntimeWarning, match="max_energy_range_uj unreadable"):
        sensor = RaplSensor(powercap.root, clock=clock)
    drive(powercap, sensor, clock, {"intel-rapl:0": 10.0}, seconds=0.5, steps=1)
    assert sensor.read_j()["package-0"] == pytest.approx(5.0)
    assert zone.energy_uj == 5_000_000
    with pytest.warns(RuntimeWarning, match="unknown and not counted"):
        drive(powercap, sensor, clock, {"intel-rapl:0": 10.0}, seconds=0.6, steps=1)
    after = sensor.read_j()["package-0"]
    assert after == pytest.approx(5.0)  # the wrapped interval is unknown, not negative
    assert any("unknown and not counted" in n for n in sensor.notes())
    drive(powercap, sensor, clock, {"intel-rapl:0": 10.0}, seconds=0.1, steps=1)
    assert sensor.read_j()["package-0"] == pytest.approx(6.0)


def test_failed_read_is_flagged_not_zero_then_wrap(powercap, clock):
    powercap.add("intel-rapl:0", "package-0", max_uj=50_000_000)
    failing = {"on": False}

    def reader(path):
        if failing["on"] and path.endswith("energy_uj"):
            raise OSError(5, "Input/output error")
        return rapl.read_sysfs(path)

    sensor = RaplSensor(powercap.root, reader=reader, clock=clock)
    drive(powercap, sensor, clock, {"intel-rapl:0": 10.0}, seconds=1.0, steps=2)
    failing["on"] = True
    with pytest.warns(RuntimeWarning, match="failed"):
        drive(powercap, sensor, clock, {"intel-rapl:0": 10.0}, seconds=1.0, steps=1)
    failing["on"] = False
    assert sensor.read_j()["package-0"] == pytest.approx(20.0)
    assert sensor.wraps()["package-0"] == 0  # the failure was not read as a wrap
    assert any("failed" in n for n in sensor.notes())


def permission_reader(path):
    if path.endswith("energy_uj"):
        raise PermissionError(13, "Permission denied", path)
    return rapl.read_sysfs(path)


def test_permission_denied_names_the_file_and_fixes(powercap):
    powercap.add("intel-rapl:0", "package-0")
    with pytest.raises(SensorPermissionError) as info:
        RaplSensor(powercap.root, reader=permission_reader)
    message = str(info.value)
    assert os.path.join("intel-rapl:0", "energy_uj") in message
    assert "run as root" in message and "udev" in message and "--rapl-root" in message
    assert "\n" not in message


def test_probe_reports_permission_and_duplicates(powercap):
    powercap.add("intel-rapl:0", "package-0")
    powercap.add("intel-rapl-mmio:0", "package-0")
    statuses = rapl.probe(powercap.root, reader=permission_reader)
    assert statuses and all(not s.readable for s in statuses)
    assert "root" in statuses[0].fix
    statuses = rapl.probe(powercap.root)
    dup = [s for s in statuses if "duplicates" in s.reason]
    assert len(dup) == 1 and dup[0].readable


def test_missing_tree_is_unavailable_with_a_fix(tmp_path):
    with pytest.raises(SensorUnavailable, match="--rapl-root"):
        RaplSensor(tmp_path / "nope")
    (status,) = rapl.probe(tmp_path / "nope")
    assert not status.readable and "rapl-root" in status.fix
