"""Precision conversions: dtypes of weights and outputs, zeros kept, refusals."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from profiler.errors import ConfigError, DeviceUnavailable
from profiler.models import model_stats, sparsify, to_format
from profiler.models.precision import DTYPES, to_precision


@pytest.fixture
def half_zero(tiny_mlp: nn.Module) -> nn.Module:
    """The tiny MLP with magnitude sparsity 0.5."""
    sparse, _ = sparsify(tiny_mlp, "magnitude", 0.5)
    return sparse


def _zeros(module: nn.Module) -> list[torch.Tensor]:
    return [m.weight == 0 for m in module.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize(("dtype", "torch_dtype"), [("bf16", torch.bfloat16),
                                                    ("fp16", torch.float16)])  # fmt: skip
def test_half_precisions_cast_weights_outputs_and_keep_zeros(
    half_zero: nn.Module, dtype: str, torch_dtype: torch.dtype
) -> None:
    typed, record = to_precision(half_zero, dtype)
    assert (record.dtype, record.bytes_per_weight) == (dtype, 2)
    assert record.input_dtype == dtype
    assert {p.dtype for p in typed.parameters()} == {torch_dtype}
    assert next(half_zero.parameters()).dtype == torch.float32  # input untouched
    with torch.no_grad():
        assert typed(torch.randn(4, 64).to(torch_dtype)).dtype == torch_dtype
    for before, after in zip(_zeros(half_zero), _zeros(typed)):
        assert torch.equal(before, after)
    stats = model_stats(typed, torch.randn(8, 64).to(torch_dtype))
    fp32 = model_stats(half_zero, torch.randn(8, 64))
    assert stats.format_bytes * 2 == fp32.format_bytes


def test_int8_quantizes_linears_keeps_zeros_and_counts_bytes(
    half_zero: nn.Module,
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        quant, record = to_precision(half_zero, "int8")
    assert (record.bytes_per_weight, record.input_dtype) == (1, "fp32")
    assert "torch.ao.quantization.quantize_dynamic" in record.notes[0]
    layers = [m for m in quant.modules() if hasattr(m, "_packed_params")]
    layers = [m for m in layers if callable(getattr(m, "weight", None))]
    assert len(layers) == 3
    for before, layer in zip(_zeros(half_zero), layers):
        assert layer.weight().dtype == torch.qint8
        assert torch.equal(before, layer.weight().int_repr() == 0)  # exact zeros stay
    with torch.no_grad():
        assert quant(torch.randn(4, 64)).dtype == torch.float32
    dense = model_stats(half_zero, torch.randn(8, 64))
    stats = model_stats(quant, torch.randn(8, 64), dense_weights=dense.weights)
    weights = sum(layer.weight().numel() for layer in layers)
    biases = sum(layer.bias().numel() for layer in layers)
    assert stats.weights == weights == dense.weights
    assert stats.params == dense.params
    assert stats.format_bytes == weights + 8 * len(layers) + 4 * biases
    assert stats.weight_sparsity >= dense.weight_sparsity  # tiny weights may round to 0


def test_int8_keeps_conv_fp32_with_a_note(tiny_cnn: nn.Module) -> None:
    quant, record = to_precision(tiny_cnn, "int8")
    assert any("Conv layer(s) stay fp32" in note for note in record.notes)
    convs = [m for m in quant.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(c.weight.dtype == torch.float32 for c in convs)


def test_refusals_are_one_line_and_name_the_option(half_zero: nn.Module) -> None:
    csr, _ = to_format(half_zero, "csr", torch.randn(4, 64))
    for dtype, pattern in [("bf16", "no CPU sparse CSR matmul for bf16"),
                           ("fp16", "no CPU sparse CSR matmul for fp16"),
                           ("int8", "torch has no int8 sparse CSR kernel")]:  # fmt: skip
        with pytest.raises(ConfigError, match=pattern) as info:
            to_precision(csr, dtype)
        assert "\n" not in str(info.value) and f"--dtype {dtype}" in str(info.value)
    with pytest.raises(DeviceUnavailable, match="CPU kernels only"):
        to_precision(half_zero, "int8", device="cuda:0")
    with pytest.raises(ConfigError, match="no nn.Linear layer"):
        to_precision(nn.Sequential(nn.ReLU()), "int8")
    with pytest.raises(ConfigError, match="not known"):
        to_precision(half_zero, "fp8")
    assert DTYPES == ("fp32", "bf16", "fp16", "int8")
