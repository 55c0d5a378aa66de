"""A tiny `profile --dtype fp32,bf16,int8` run: rows, dtypes and bytes per weight."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from profiler import cli, sweep
from profiler.errors import ConfigError, DeviceUnavailable
from profiler.models.load import save_checkpoint
from profiler.models.zoo import build

FAST = ["--repeats", "2", "--min-window", "0.02", "--idle", "0.05"]


def test_plan_has_the_fp32_baseline_and_every_dtype() -> None:
    spec = sweep.SweepSpec(
        checkpoint=Path("x.pt"), methods=("magnitude",), sparsities=(0.5,),
        formats=("dense",), dtypes=("int8",),
    )  # fmt: skip
    configs = sweep.plan(spec, "m", ("cpu",))
    assert [(c.method, c.dtype) for c in configs] == [
        ("dense", "fp32"), ("dense", "int8"), ("magnitude", "int8"),
    ]  # fmt: skip


def test_profile_with_three_dtypes_writes_typed_rows(tmp_path: Path) -> None:
    arch = {"class": "MLP", "kwargs": {"in_features": 64, "hidden": [16],
                                       "out_features": 10}}  # fmt: skip
    ckpt = save_checkpoint(build(arch), arch, tmp_path / "t.pt", input_shape=(64,))
    out = tmp_path / "out"
    args = ["profile", str(ckpt), "--method", "magnitude", "--sparsity", "0.5",
            "--format", "dense,csr", "--dtype", "fp32,bf16,int8", "--out", str(out),
            *FAST]  # fmt: skip
    result = CliRunner().invoke(cli.main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "results.csv")
    got = {(r.method, r.format, r.dtype): r for r in frame.itertuples()}
    assert set(got) == {
        ("dense", "dense", "fp32"),
        ("magnitude", "dense", "fp32"),
        ("magnitude", "csr", "fp32"),
        ("dense", "dense", "bf16"),
        ("magnitude", "dense", "bf16"),
        ("dense", "dense", "int8"),
        ("magnitude", "dense", "int8"),
    }  # fmt: skip  (csr with bf16/int8 is refused and recorded as failed)
    for (_, _, dtype), row in got.items():
        assert row.bytes_per_weight == {"fp32": 4, "bf16": 2, "int8": 1}[dtype]
        assert 0.0 <= row.accuracy <= 1.0
    fp32 = got[("magnitude", "dense", "fp32")]
    int8 = got[("magnitude", "dense", "int8")]
    assert got[("magnitude", "dense", "bf16")].format_bytes * 2 == fp32.format_bytes
    assert int8.format_bytes < fp32.format_bytes / 3
    assert int8.measured_sparsity >= 0.5 - 1e-9
    base = got[("dense", "dense", "fp32")].energy_per_inference_j
    ratio = int8.energy_per_inference_j / base
    assert abs(int8.energy_ratio_vs_dense_fp32 - ratio) < 1e-9
    assert "csr layers" in result.output and "int8" in result.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="claim-7"' in page and "by precision" in page


class _FakeModel:
    def to(self, device):
        return self


class _FakeToolkit:
    """Records the order of the build steps of a semi-structured variant."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def to_precision(self, model, dtype, *, device):
        from profiler.models.precision import PrecisionRecord

        self.calls.append(("to_precision", dtype))
        return ("typed", model), PrecisionRecord(dtype, 2, dtype, ())

    def sparsify(self, model, method, sparsity, **kwargs):
        from profiler.models.sparsify import SparsifyRecord

        self.calls.append(("sparsify", model))
        return "sparse", SparsifyRecord(method, sparsity, 0.5, {}, 0, ())


def _semi(device: str, dtype: str, fmt: str = "dense"):
    tk = _FakeToolkit()
    spec = sweep.SweepSpec(checkpoint=Path("x.pt"), methods=("semi-structured",))
    variants = sweep._Variants(tk, spec, _FakeModel(), dataset=None)
    config = sweep.Config("m", "semi-structured", 0.5, fmt, device, 8, dtype)
    return tk, variants, config


def test_semi_structured_needs_cuda_half_precision_and_casts_before_pruning() -> None:
    _, variants, config = _semi("cpu", "fp16")
    with pytest.raises(DeviceUnavailable, match="needs a CUDA GPU; not supported on cpu"):
        variants.module(config)
    _, variants, config = _semi("cuda", "fp32")
    with pytest.raises(ConfigError, match="use --dtype fp16"):
        variants.module(config)
    _, variants, config = _semi("cuda", "fp16", "csr")
    with pytest.raises(ConfigError, match="--format dense"):
        variants.module(config)
    tk, variants, config = _semi("cuda", "bf16")
    module, info = variants.module(config)
    assert module == "sparse" and info["input_dtype"] == "bf16"
    assert [c[0] for c in tk.calls] == ["to_precision", "sparsify"]
    assert tk.calls[1][1][0] == "typed"  # pruning saw the half-precision model
