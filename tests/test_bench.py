"""The harness for one configuration: CI math, window sizing, summaries."""

from __future__ import annotations

import math

import pytest
import torch
from fakes_harness import IDLE_W, POWER_W, FakeProfiler
from torch import nn

from profiler import bench
from profiler.bench import Config, Target, WindowResult
from profiler.errors import ConfigError
from profiler.sensors.base import Domain

# t(0.975, df) from published tables (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2).
KNOWN_T = {1: 12.706, 2: 4.303, 4: 2.776, 9: 2.262, 29: 2.045, 40: 2.021, 60: 2.000,
           120: 1.980, 10**6: 1.960}  # fmt: skip


@pytest.mark.parametrize(("df", "expected"), sorted(KNOWN_T.items()))
def test_t_quantile_matches_published_tables(df: int, expected: float) -> None:
    assert bench.t_quantile_975(df) == pytest.approx(expected, abs=6e-4)


def test_t_quantile_is_continuous_across_the_table_edge() -> None:
    assert bench.t_quantile_975(30) > bench.t_quantile_975(31) > bench.t_quantile_975(32)
    assert bench.t_quantile_975(31) == pytest.approx(2.039513, abs=1e-6)


def test_mean_ci95_by_hand() -> None:
    mean, low, high = bench.mean_ci95([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.776445105 * math.sqrt(2.5) / math.sqrt(5)
    assert mean == 3.0
    assert (low, high) == pytest.approx((3.0 - half, 3.0 + half))


def test_mean_ci95_single_value_has_no_interval() -> None:
    mean, low, high = bench.mean_ci95([2.0])
    assert mean == 2.0 and math.isnan(low) and math.isnan(high)


def _domain(source: str, period: float, counted: bool = True) -> Domain:
    return Domain("d-" + source, "cpu", source, counted, period)


def test_default_min_window() -> None:
    assert bench.default_min_window_s([_domain("estimate", 1e-6)]) == 0.5
    assert bench.default_min_window_s([_domain("rapl", 0.001)]) == 0.5
    assert bench.default_min_window_s([_domain("rapl", 0.02)]) == pytest.approx(2.0)
    assert bench.default_min_window_s([_domain("nvml", 0.02)]) == 5.0
    assert bench.default_min_window_s([_domain("nvml", 0.1)]) == pytest.approx(10.0)
    slow_uncounted = [_domain("rapl", 0.001), _domain("rapl", 1.0, counted=False)]
    assert bench.default_min_window_s(slow_uncounted) == 0.5


def test_config_key_is_stable_and_distinct() -> None:
    a = Config("m", "magnitude", 0.9, "csr", "cpu", 64)
    assert a.key() == Config("m", "magnitude", 0.9, "csr", "cpu", 64).key()
    assert a.key() != Config("m", "magnitude", 0.9, "csr", "cpu", 32).key()
    assert a.key() != Config("m", "magnitude", 0.9, "csr", "cpu", 64, threads=1).key()
    assert "bs=64" in a.key()


def _window(
    repeat: int, energy: float, duration: float, items: int = 100
) -> WindowResult:
    return WindowResult(
        config_key="k", repeat=repeat, order_index=repeat, start_time=1e9 + repeat,
        duration_s=duration, batches=items // 10, items=items,
        energy_j={"package-0": energy * 0.8, "dram-0": energy * 0.2},
        net_energy_j={"package-0": energy * 0.4, "dram-0": energy * 0.1},
        overlap_energy_j={"psys": energy * 2}, sources={"package-0": "rapl",
        "dram-0": "rapl"}, idle_power_w={},
    )  # fmt: skip


def test_summarize_figures() -> None:
    windows = [_window(0, 1.9, 0.5), _window(1, 2.0, 0.5), _window(2, 2.1, 0.5)]
    s = bench.summarize(windows, batch_size=10)
    assert s.energy_per_inference_j == pytest.approx(0.02)
    half = 4.302652730 * 0.001 / math.sqrt(3)
    assert s.energy_per_inference_ci_low_j == pytest.approx(0.02 - half)
    assert s.energy_per_inference_ci_high_j == pytest.approx(0.02 + half)
    assert s.net_energy_per_inference_j == pytest.approx(0.01)
    assert s.latency_ms == pytest.approx(50.0)  # 0.5 s / 10 batches
    assert s.latency_per_item_ms == pytest.approx(5.0)
    assert s.throughput_ips == pytest.approx(200.0)
    assert s.avg_power_w == pytest.approx(4.0)  # 6 J over 1.5 s
    assert s.energy_by_domain == pytest.approx({"dram-0": 0.004, "package-0": 0.016})
    assert s.overlap_energy_by_domain == pytest.approx({"psys": 0.04})
    assert s.source == "rapl"
    assert not any("clipped" in n for n in s.notes)


def test_summarize_figures_agree_when_windows_differ() -> None:
    # a slow window with few items beside fast ones: pooled and mean figures differ
    windows = [_window(0, 1.0, 0.5, items=400), _window(1, 1.0, 0.5, items=40)]
    s = bench.summarize(windows, batch_size=10)
    assert s.energy_per_inference_j == pytest.approx((1 / 400 + 1 / 40) / 2)
    assert sum(s.energy_by_domain.values()) == pytest.approx(s.energy_per_inference_j)
    assert s.latency_ms == pytest.approx((0.5 / 40 + 0.5 / 4) / 2 * 1e3)
    assert s.throughput_ips == pytest.approx(10 / (s.latency_ms / 1e3))


def test_summarize_clips_an_interval_below_zero_and_says_so() -> None:
    windows = [_window(0, 1.0, 0.5), _window(1, 2.0, 0.5), _window(2, 3.0, 0.5)]
    s = bench.summarize(windows, batch_size=10)
    assert 0.02 - 4.302652730 * 0.01 / math.sqrt(3) < 0  # the t-interval's low end
    assert s.energy_per_inference_ci_low_j == 0.0
    assert s.energy_per_inference_ci_high_j == pytest.approx(
        0.02 + 4.302652730 * 0.01 / math.sqrt(3)
    )
    assert any("energy per inference" in n and "clipped at 0" in n for n in s.notes)


def _target(batch_size: int = 4) -> Target:
    config = Config("tiny", "dense", 0.0, "dense", "cpu", batch_size)
    return Target(config, nn.Linear(8, 2), torch.randn(batch_size, 8))


def test_measure_config_windows_are_long_enough() -> None:
    prof = FakeProfiler()
    prof.measure_idle(0.0)
    summary, windows = bench.measure_config(
        prof, _target(), repeats=3, min_window_s=0.03, warmup_s=0.01
    )
    assert len(windows) == 3 == summary.repeats
    assert all(w.duration_s >= 0.03 for w in windows)
    assert all(w.items == w.batches * 4 for w in windows)
    assert [m.items for m in prof.measurements] == [w.items for w in windows]
    per_item = [POWER_W * w.duration_s / w.items for w in windows]
    assert summary.energy_per_inference_j == pytest.approx(sum(per_item) / 3)
    net = [(POWER_W - IDLE_W) * w.duration_s / w.items for w in windows]
    assert summary.net_energy_per_inference_j == pytest.approx(sum(net) / 3)


def test_measure_config_rejects_zero_repeats() -> None:
    with pytest.raises(ConfigError, match="--repeats"):
        bench.measure_config(FakeProfiler(), _target(), repeats=0, min_window_s=0.01)


def test_target_runs_under_no_grad_not_inference_mode() -> None:
    seen = []

    class Probe(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled()))
            return x

    Target(Config("p", "dense", 0.0, "dense", "cpu", 1), Probe(), torch.zeros(1)).run(1)
    assert seen == [(False, False)]


def test_target_sets_threads() -> None:
    before = torch.get_num_threads()
    try:
        config = Config("p", "dense", 0.0, "dense", "cpu", 1, threads=1)
        Target(config, nn.Identity(), torch.zeros(1)).run(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
