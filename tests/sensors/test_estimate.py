"""The CPU-time estimate and its TDP look-up."""

from __future__ import annotations

import pytest

from profiler.errors import ConfigError
from profiler.sensors import estimate
from profiler.sensors.estimate import EstimateSensor, guess_tdp


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "cpu_power.csv"
    path.write_text(
        "Name,TDP\nAMD EPYC 7763,280.0\nAMD EPYC 7763X,290\nIntel Xeon Gold 6248,150\n"
        '"Intel Core i5+8400  (9M Cache, up to 4.00 GHz) includes X",65.0\n'
    )
    return path


def cpuinfo(tmp_path, model):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: {model}\nflags\t: fpu\n")
    return str(path)


@pytest.mark.parametrize(
    ("model", "tdp_w"),
    [
        ("AMD EPYC 7763 64-Core Processor", 280.0),
        ("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 150.0),
        ("Intel(R) Core(TM) i5+8400 CPU @ 2.80GHz", 65.0),
    ],
)
def test_table_match(tmp_path, table, model, tdp_w):
    guess = guess_tdp(cpuinfo=cpuinfo(tmp_path, model), table=table, logical_cpus=8)
    assert (guess.origin, guess.tdp_w) == ("table", tdp_w)
    assert guess.power_per_thread_w == pytest.approx(tdp_w / 8)


def test_unknown_model_uses_documented_default(tmp_path, table):
    guess = guess_tdp(cpuinfo=cpuinfo(tmp_path, "AMD EPYC"), table=table, logical_cpus=2)
    assert guess.origin == "default"
    assert guess.power_per_thread_w == estimate.DEFAULT_W_PER_THREAD
    assert "not found" in guess.describe() and "cpu_tdp_w" in guess.describe()


def test_override_and_bad_override(tmp_path):
    guess = guess_tdp(65.0, cpuinfo=cpuinfo(tmp_path, "x"), logical_cpus=4)
    assert guess.power_per_thread_w == pytest.approx(16.25)
    with pytest.raises(ConfigError, match="cpu_tdp_w"):
        guess_tdp(-1)


def test_real_codecarbon_table_is_found_without_importing_it():
    import sys

    path = estimate.table_path()
    assert path is not None and path.name == "cpu_power.csv"
    assert estimate.lookup_tdp("AMD EPYC 7763 64-Core Processor", str(path))[1] > 0
    assert "codecarbon.emissions_tracker" not in sys.modules


def test_sensor_is_cpu_time_times_power_per_thread(tmp_path):
    cpu_s = [10.0]
    guess = estimate.TdpGuess(40.0, 4, "override", "x")
    sensor = EstimateSensor(cpu_time=lambda: cpu_s[0], guess=guess)
    (domain,) = sensor.domains()
    assert (domain.name, domain.source, domain.counted) == ("cpu", "estimate", True)
    cpu_s[0] = 12.5
    assert sensor.read_j() == {"cpu": pytest.approx(25.0)}
    assert "estimate" in sensor.notes()[-1]
