"""Stand-ins for the Profiler and the model functions, for the harness tests."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import torch
from torch import nn

from profiler.measure import Measurement
from profiler.sensors.base import Domain

POWER_W = 10.0  # the fake CPU draws this much, always
IDLE_W = 2.0


class FakeWindow:
    """A window whose energy is POWER_W times its wall-clock duration."""

    def __init__(self, prof: FakeProfiler, name: str, items: int | None) -> None:
        self.prof, self.name, self.items = prof, name, items
        self.measurement = None

    def __enter__(self) -> FakeWindow:
        self.prof.opened += 1
        if self.prof.opened == self.prof.interrupt_at:
            raise KeyboardInterrupt
        self.wall0, self.t0 = time.time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> bool:
        duration = time.perf_counter() - self.t0
        self.measurement = Measurement(
            name=self.name,
            start_time=self.wall0,
            duration_s=duration,
            items=self.items,
            energy_j={"cpu": POWER_W * duration},
            overlap_energy_j={},
            sources={"cpu": "estimate"},
            idle_power_w=dict(self.prof.idle_power_w),
            notes=("fake",),
        )
        self.prof.measurements.append(self.measurement)
        self.prof.names.append(self.name)
        return False


class FakeProfiler:
    """The Profiler's public surface, driven by wall-clock time at a fixed power."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.domains = (Domain("cpu", "cpu", "estimate", True, 1e-6, "fake"),)
        self.idle_power_w: dict[str, float] = {}
        self.measurements: list[Measurement] = []
        self.names: list[str] = []
        self.opened = 0
        self.interrupt_at = interrupt_at
        self.t_start = time.perf_counter()

    def __enter__(self) -> FakeProfiler:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def window(self, name: str, items: int | None = None) -> FakeWindow:
        return FakeWindow(self, name, items)

    def measure_idle(self, seconds: float) -> dict[str, float]:
        self.idle_power_w = {"cpu": IDLE_W}
        return dict(self.idle_power_w)

    def timeline(self) -> pd.DataFrame:
        now = time.perf_counter() - self.t_start
        rows = [(t, "cpu", POWER_W, "estimate") for t in (now - 0.01, now)]
        return pd.DataFrame(rows, columns=["time_s", "domain", "power_w", "source"])


@dataclass(frozen=True)
class FakeStats:
    params: int
    nonzero_params: int
    weight_sparsity: float
    dense_bytes: int = 100
    format_bytes: int = 100
    flops_dense: int = 10
    flops_effective: int = 10
    activation_sparsity: float | None = 0.5


def _nonzero(model: nn.Module) -> int:
    return sum(int((p != 0).sum()) for p in model.parameters())


def fake_toolkit(calls: list | None = None) -> SimpleNamespace:
    """Model functions with the contract's names, on a tiny real torch model."""
    calls = calls if calls is not None else []

    def load_checkpoint(path, *, trust_checkpoint=False):
        torch.manual_seed(0)
        module = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        return SimpleNamespace(
            module=module, path=Path(path), kind="profiler", arch=None,
            input_shape=(8,), name="tiny",
        )  # fmt: skip

    def load_data(spec, *, input_shape=None):
        x = torch.randn(20, 8)
        return SimpleNamespace(
            name="fake", x_train=x, y_train=None, x_test=x, y_test=torch.zeros(20).long()
        )

    def sparsify(model, method, sparsity, **kwargs):
        calls.append(("sparsify", method, sparsity))
        if method == "broken":
            raise RuntimeError("this method always fails")
        new = copy.deepcopy(model)
        with torch.no_grad():
            for p in new.parameters():
                p[torch.rand_like(p) < sparsity] = 0.0
        return new, SimpleNamespace(method=method, target_sparsity=sparsity)

    def to_format(model, fmt, example):
        return copy.deepcopy(model), {"fmt": fmt}

    def model_stats(model, example, *, dense_params=None, dense_weights=None):
        nonzero = _nonzero(model)
        params = sum(p.numel() for p in model.parameters())
        return FakeStats(params, nonzero, 1 - nonzero / (dense_params or params))

    return SimpleNamespace(
        load_checkpoint=load_checkpoint,
        load_data=load_data,
        check_input=lambda model, x, source, model_name="": None,
        accuracy=lambda model, x, y, device="cpu": 0.9,
        agreement=lambda model, ref, x, device="cpu": (1.0, 0.0),
        sparsify=sparsify,
        to_format=to_format,
        model_stats=model_stats,
    )
