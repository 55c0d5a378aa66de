"""pandas tables from the results database: one row per configuration, plus timelines.

Ratios compare each configuration with the dense baseline measured on the same model,
device, batch size, dtype and thread count in the same run; `energy_ratio_vs_dense_fp32`
and `accuracy_delta_vs_dense_fp32` compare with the dense fp32 baseline instead (same
model, device, batch size and threads), so precisions can be set against each other.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from profiler import carbon
from profiler.store import ResultsStore

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "node_columns", "results_frame", "timeline_frame", "write_csv"]

logger = logging.getLogger(__name__)

COLUMNS = (
    "model", "method", "target_sparsity", "measured_sparsity", "format", "device",
    "batch_size", "dtype", "bytes_per_weight", "threads",
    "energy_per_inference_j", "energy_per_inference_ci_low_j",
    "energy_per_inference_ci_high_j", "net_energy_per_inference_j",
    "net_energy_per_inference_ci_low_j", "net_energy_per_inference_ci_high_j",
    "latency_ms", "latency_ci_low_ms", "latency_ci_high_ms", "latency_per_item_ms",
    "throughput_ips", "avg_power_w", "accuracy", "agreement_top1",
    "agreement_logit_diff", "energy_ratio_vs_dense", "energy_ratio_vs_dense_fp32",
    "accuracy_delta_vs_dense_fp32", "latency_ratio_vs_dense",
    "accuracy_delta_vs_dense", "storage_ratio_vs_dense", "co2_per_inference_g",
    "source", "params", "nonzero_params", "dense_bytes", "format_bytes", "flops_dense",
    "flops_effective", "activation_sparsity", "energy_by_domain", "repeats",
    "run_id", "order_index", "node", "node_hardware", "node_cpu_model",
    "node_gpu_model", "node_sensors", "config_key",
)  # fmt: skip
NODE_COLUMNS = (
    "node",
    "node_hardware",
    "node_cpu_model",
    "node_gpu_model",
    "node_sensors",
)
BASELINE_GROUP = ("model", "device", "batch_size", "dtype", "threads")
FP32_GROUP = ("model", "device", "batch_size", "threads")
BYTES_PER_WEIGHT = {"fp32": 4, "bf16": 2, "fp16": 2, "int8": 1}
TIMELINE_COLUMNS = ("config_key", "window", "time_s", "domain", "power_w", "source")


def _intensity(meta: dict[str, Any]) -> float:
    """The grid intensity the run was made with, or the world average."""
    value = meta.get("carbon", {}).get("intensity_g_per_kwh")
    return float(value) if value is not None else carbon.carbon_intensity_g_per_kwh()


def _json_text(value: Any) -> Any:
    """Dicts and lists as JSON text; other values unchanged."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def _add_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Ratios and deltas against the dense baseline of the same group."""
    dense = frame[frame["method"] == "dense"]
    keys = list(BASELINE_GROUP)
    base = dense[[*keys, "energy_per_inference_j", "latency_ms", "accuracy"]]
    base = base.assign(storage=dense["format_bytes"])
    base = base.drop_duplicates(keys, keep="last")
    base.columns = [*keys, "_e", "_l", "_a", "_s"]
    merged = frame.merge(base, on=keys, how="left")
    merged["energy_ratio_vs_dense"] = merged["energy_per_inference_j"] / merged["_e"]
    merged["latency_ratio_vs_dense"] = merged["latency_ms"] / merged["_l"]
    merged["accuracy_delta_vs_dense"] = merged["accuracy"] - merged["_a"]
    merged["storage_ratio_vs_dense"] = merged["format_bytes"] / merged["_s"]
    merged = merged.drop(columns=["_e", "_l", "_a", "_s"])
    return _add_fp32_ratios(merged)


def _add_fp32_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Energy ratio and accuracy delta against the dense fp32 baseline of the group."""
    keys = list(FP32_GROUP)
    dense = frame[(frame["method"] == "dense") & (frame["dtype"] == "fp32")]
    base = dense[[*keys, "energy_per_inference_j", "accuracy"]]
    base = base.drop_duplicates(keys, keep="last")
    base.columns = [*keys, "_e32", "_a32"]
    merged = frame.merge(base, on=keys, how="left")
    energy = merged["energy_per_inference_j"]
    merged["energy_ratio_vs_dense_fp32"] = energy / merged["_e32"]
    merged["accuracy_delta_vs_dense_fp32"] = merged["accuracy"] - merged["_a32"]
    return merged.drop(columns=["_e32", "_a32"])


def _fill_bytes_per_weight(frame: pd.DataFrame) -> pd.DataFrame:
    """bytes_per_weight from the dtype where a row lacks it (runs before issue 9)."""
    if "dtype" not in frame:
        frame["dtype"] = "fp32"
    frame["dtype"] = frame["dtype"].fillna("fp32")
    nominal = frame["dtype"].map(BYTES_PER_WEIGHT)
    if "bytes_per_weight" not in frame:
        frame["bytes_per_weight"] = nominal
    else:
        frame["bytes_per_weight"] = frame["bytes_per_weight"].fillna(nominal)
    return frame


def _gpu_model(gpus: list[dict[str, Any]], device: str) -> str | None:
    """The GPU a configuration ran on; for CPU ones, the node's GPUs (or None)."""
    if str(device).startswith("cuda"):
        index = int(str(device).partition(":")[2] or 0)
        return gpus[index].get("name") if index < len(gpus) else None
    return ", ".join(sorted({str(g.get("name")) for g in gpus})) or None


def node_columns(info: dict[str, Any], device: str) -> dict[str, Any]:
    """The columns naming the node a configuration ran on, from its description
    (hostname, cpu_model, gpus, sensors: a run's hardware and sensors metadata)."""
    cpu = info.get("cpu_model") or "unknown CPU"
    gpu = _gpu_model(list(info.get("gpus") or []), device)
    domains = (info.get("sensors") or {}).get("domains", [])
    return {
        "node": info.get("hostname", ""),
        "node_hardware": f"{cpu} + {gpu}" if gpu else cpu,
        "node_cpu_model": cpu,
        "node_gpu_model": gpu,
        "node_sensors": ", ".join(
            f"{d['name']}:{d['source']}" for d in domains if d.get("counted", True)
        ),
    }


def _fill_nodes(frame: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    """Node columns: a row's own (a Ray run), else the run's machine."""
    machine = {**meta.get("hardware", {}), "sensors": meta.get("sensors", {})}
    own = frame["node"].notna() if "node" in frame else [False] * len(frame)
    fill = [node_columns(machine, device) for device in frame["device"]]
    for column in NODE_COLUMNS:
        values = frame[column] if column in frame else [None] * len(frame)
        frame[column] = [
            v if mine else f[column] for v, mine, f in zip(values, own, fill)
        ]
    return frame


def results_frame(db_path: str | Path, run_id: int | None = None) -> pd.DataFrame:
    """One row per complete configuration of a run (the newest by default)."""
    import pandas as pd

    with ResultsStore(db_path, create=False) as store:
        rows = store.config_rows(run_id)
        meta = store.read_metadata(run_id)
    if not rows:
        return pd.DataFrame(columns=list(COLUMNS))
    frame = pd.DataFrame(rows)
    frame["run_id"] = meta.get("run_id")
    frame = _fill_nodes(frame, meta)
    intensity = _intensity(meta)
    frame["co2_per_inference_g"] = frame["energy_per_inference_j"].map(
        lambda e: carbon.co2_g(e, intensity)
    )
    frame = _fill_bytes_per_weight(frame.drop(columns=["config"], errors="ignore"))
    frame = _add_ratios(frame)
    for column in frame.columns:  # nested values (per-layer maps, notes) as JSON text
        if frame[column].map(lambda v: isinstance(v, (dict, list))).any():
            frame[column] = frame[column].map(_json_text)
    for column in COLUMNS:
        if column not in frame:
            frame[column] = None
    extra = [c for c in frame.columns if c not in COLUMNS]
    return frame[[*COLUMNS, *extra]].sort_values("order_index", ignore_index=True)


def timeline_frame(db_path: str | Path, run_id: int | None = None) -> pd.DataFrame:
    """Power samples inside the measured windows: one row per (sample, domain)."""
    import pandas as pd

    with ResultsStore(db_path, create=False) as store:
        rows = store.samples(run_id)
    return pd.DataFrame(rows, columns=list(TIMELINE_COLUMNS))


def write_csv(frame: pd.DataFrame, out_dir: str | Path) -> Path:
    """Write `frame` as OUT/results.csv; returns the path."""
    path = Path(out_dir) / "results.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path
