"""Hand-built results frames for the report tests (a uniquely named helper module)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

DENSE_ROW: dict[str, Any] = {
    "model": "mlp",
    "method": "dense",
    "target_sparsity": 0.0,
    "measured_sparsity": 0.0,
    "format": "dense",
    "device": "cpu",
    "batch_size": 64,
    "dtype": "fp32",
    "energy_per_inference_j": 1.0e-3,
    "energy_per_inference_ci_low_j": 0.95e-3,
    "energy_per_inference_ci_high_j": 1.05e-3,
    "net_energy_per_inference_j": 0.8e-3,
    "latency_ms": 2.0,
    "latency_ci_low_ms": 1.9,
    "latency_ci_high_ms": 2.1,
    "throughput_ips": 32000.0,
    "avg_power_w": 32.0,
    "accuracy": 0.97,
    "energy_ratio_vs_dense": 1.0,
    "co2_per_inference_g": 1.3e-4,
    "source": "estimate",
    "params": 10000,
    "nonzero_params": 10000,
    "dense_bytes": 40000,
    "format_bytes": 40000,
    "flops_dense": 20000,
    "flops_effective": 20000,
    "activation_sparsity": 0.0,
    "latency_ratio_vs_dense": 1.0,
    "accuracy_delta_vs_dense": 0.0,
    "storage_ratio_vs_dense": 1.0,
    "energy_by_domain": json.dumps({"cpu": 1.0e-3}),
    "run_id": 1,
    "order_index": 0,
    "node": "testhost",
}


def energy(value: float, half_width: float) -> dict[str, float]:
    """Energy columns for a value (J) with a symmetric CI of the given half width."""
    return {
        "energy_per_inference_j": value,
        "energy_per_inference_ci_low_j": value - half_width,
        "energy_per_inference_ci_high_j": value + half_width,
    }


def latency(value: float, half_width: float) -> dict[str, float]:
    """Latency columns (ms) with a symmetric CI."""
    return {
        "latency_ms": value,
        "latency_ci_low_ms": value - half_width,
        "latency_ci_high_ms": value + half_width,
    }


def build_frame(*variants: dict[str, Any], dense: dict[str, Any] | None = None):
    """The dense row plus variants (method magnitude unless overridden)."""
    rows = [{**DENSE_ROW, **(dense or {})}]
    for i, overrides in enumerate(variants, start=1):
        row = {**DENSE_ROW, "method": "magnitude", "order_index": i}
        rows.append({**row, **overrides})
    return pd.DataFrame(rows)
