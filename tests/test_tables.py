"""Tables from the database: columns, ratios against dense, carbon, CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from profiler import carbon, tables
from profiler.store import ResultsStore

MINIMUM = [
    "model", "method", "target_sparsity", "measured_sparsity", "format", "device",
    "batch_size", "energy_per_inference_j", "energy_per_inference_ci_low_j",
    "energy_per_inference_ci_high_j", "net_energy_per_inference_j", "latency_ms",
    "throughput_ips", "avg_power_w", "accuracy", "energy_ratio_vs_dense",
    "co2_per_inference_g", "source",
]  # fmt: skip


def _row(method: str, sparsity: float, device: str, energy: float, **extra) -> dict:
    row = {
        "model": "m", "method": method, "target_sparsity": sparsity,
        "measured_sparsity": sparsity, "format": "dense", "device": device,
        "batch_size": 8, "dtype": "fp32", "threads": 2,
        "energy_per_inference_j": energy, "energy_per_inference_ci_low_j": energy * 0.9,
        "energy_per_inference_ci_high_j": energy * 1.1,
        "net_energy_per_inference_j": energy / 2, "latency_ms": energy * 1000,
        "throughput_ips": 1.0, "avg_power_w": 5.0, "accuracy": 0.9 - sparsity / 10,
        "source": "estimate", "format_bytes": 1000 * (1 - sparsity),
        "energy_by_domain": {"cpu": energy}, "order_index": int(sparsity * 10),
        "config_key": f"{method}{sparsity}{device}", "config": {},
    }  # fmt: skip
    row.update(extra)
    return row


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "runs.sqlite"
    with ResultsStore(path) as store:
        run_id = store.write_run({"carbon": {"intensity_g_per_kwh": 100.0},
                                  "hardware": {"hostname": "box"}})  # fmt: skip
        rows = [_row("dense", 0.0, "cpu", 2.0), _row("magnitude", 0.5, "cpu", 1.0),
                _row("dense", 0.0, "cuda:0", 4.0), _row("magnitude", 0.5, "cuda:0", 1.0,
                order_index=9)]  # fmt: skip
        for row in rows:
            store.write_result(run_id, row, [])
    return path


def test_results_frame_columns_and_ratios(db: Path) -> None:
    frame = tables.results_frame(db)
    assert set(MINIMUM) <= set(frame.columns)
    assert set(tables.COLUMNS) <= set(frame.columns)
    ratio = frame.set_index(["method", "device"])["energy_ratio_vs_dense"]
    assert ratio[("dense", "cpu")] == 1.0
    assert ratio[("magnitude", "cpu")] == pytest.approx(0.5)
    assert ratio[("magnitude", "cuda:0")] == pytest.approx(0.25)  # its own device
    delta = frame.set_index(["method", "device"])["accuracy_delta_vs_dense"]
    assert delta[("magnitude", "cpu")] == pytest.approx(-0.05)
    storage = frame.set_index(["method", "device"])["storage_ratio_vs_dense"]
    assert storage[("magnitude", "cpu")] == pytest.approx(0.5)
    assert frame["co2_per_inference_g"].tolist() == pytest.approx(
        [carbon.co2_g(e, 100.0) for e in frame["energy_per_inference_j"]]
    )
    assert set(frame["node"]) == {"box"}
    assert json.loads(frame["energy_by_domain"].iloc[0]) == {"cpu": 2.0}


def test_write_csv(db: Path, tmp_path: Path) -> None:
    path = tables.write_csv(tables.results_frame(db), tmp_path / "out")
    assert path == tmp_path / "out" / "results.csv"
    back = pd.read_csv(path)
    assert len(back) == 4 and "energy_ratio_vs_dense" in back


def test_empty_database_gives_empty_frame(tmp_path: Path) -> None:
    ResultsStore(tmp_path / "e.sqlite").close()
    frame = tables.results_frame(tmp_path / "e.sqlite")
    assert frame.empty and set(MINIMUM) <= set(frame.columns)


def test_timeline_frame(tmp_path: Path) -> None:
    from test_bench import _window

    with ResultsStore(tmp_path / "t.sqlite") as store:
        run_id = store.write_run({})
        samples = [{"window": 0, "time_s": 1.0, "domain": "cpu", "power_w": 2.0,
                    "source": "estimate"}]  # fmt: skip
        store.write_result(run_id, {"config_key": "k", "config": {}},
                           [_window(0, 1.0, 0.5)], samples)  # fmt: skip
    frame = tables.timeline_frame(tmp_path / "t.sqlite")
    assert list(frame.columns) == list(tables.TIMELINE_COLUMNS)
    assert frame.iloc[0].to_dict() == {"config_key": "k", "window": 0, "time_s": 1.0,
                                       "domain": "cpu", "power_w": 2.0,
                                       "source": "estimate"}  # fmt: skip
