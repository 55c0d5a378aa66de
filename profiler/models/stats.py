"""What is measured about a model: sparsity, size, storage, FLOPs, activation sparsity.

FLOPs count a multiply and an add as 2 per weight use; "effective" FLOPs count only
nonzero weights. Bytes are those of the parameters and buffers; a CSR weight counts its
values, column indices and row pointers. A dynamic int8 Linear keeps its weight in packed
params that ``parameters()`` does not show: it counts 1 byte per weight, 4 bytes per scale
and per zero point, and its fp32 bias; its zeros are the int8 values at the zero point.
Activation sparsity is the fraction of exact zeros in the outputs of ReLU-like modules on
the example batch.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from profiler.models.formats import CSRLinear
from profiler.models.precision import is_quantized_linear

logger = logging.getLogger(__name__)

__all__ = ["RELU_LIKE", "ModelStats", "model_stats"]

RELU_LIKE = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.Threshold)
_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, CSRLinear)


@dataclass(frozen=True)
class ModelStats:
    """Counts per model; sparsities are fractions 0..1, FLOPs per inference (item)."""

    params: int
    nonzero_params: int
    weight_sparsity: float
    per_layer_sparsity: Mapping[str, float]
    dense_bytes: int
    format_bytes: int
    flops_dense: int | None  # None: no Linear/Conv modules to count (opaque program)
    flops_effective: int | None
    activation_sparsity: float | None
    weights: int = 0  # Linear/Conv weights (not biases)
    nonzero_weights: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain values for storage."""
        data = asdict(self)
        data["per_layer_sparsity"] = dict(self.per_layer_sparsity)
        return data


def model_stats(
    model: nn.Module,
    example_batch: Tensor,
    *,
    dense_params: int | None = None,
    dense_weights: int | None = None,
) -> ModelStats:
    """Measure ``model`` on ``example_batch`` (N items); counts relative to the dense.

    ``weight_sparsity`` is 1 - nonzero weights / ``dense_weights`` (the dense model's
    ``ModelStats.weights``); without it, ``dense_params`` is used over all parameters;
    without either, the model's own weight count.
    """
    layers = {n: m for n, m in model.named_modules() if _is_weighted(m)}
    if not layers:
        warnings.warn(
            "no Linear/Conv modules visible (an export or TorchScript program?); "
            "FLOPs are unknown and sparsity is counted over all parameters",
            stacklevel=2,
        )
    per_layer = {n: _zero_fraction(_weight(m)) for n, m in layers.items()}
    weights = sum(_weight_numel(m) for m in layers.values())
    nonzero_w = sum(_weight_nnz(m) for m in layers.values())
    params, nonzero_p = _param_counts(model)
    quantized = [m for m in layers.values() if is_quantized_linear(m)]
    params += sum(_weight_numel(m) + _quantized_bias(m).numel() for m in quantized)
    nonzero_p += sum(
        _weight_nnz(m) + int(_quantized_bias(m).count_nonzero()) for m in quantized
    )
    if dense_weights:
        sparsity = 1.0 - nonzero_w / dense_weights
    elif dense_params:
        sparsity = 1.0 - nonzero_p / dense_params
    elif weights:
        sparsity = 1.0 - nonzero_w / weights
    else:
        sparsity = 1.0 - nonzero_p / params if params else 0.0
    flops_dense, flops_eff, act = _run_hooks(model, layers, example_batch)
    if not layers:
        flops_dense = flops_eff = None
    return ModelStats(
        params=params,
        nonzero_params=nonzero_p,
        weight_sparsity=sparsity,
        per_layer_sparsity=per_layer,
        dense_bytes=_dense_bytes(model) + sum(map(_quantized_bytes, quantized)),
        format_bytes=_format_bytes(model) + sum(map(_quantized_bytes, quantized)),
        flops_dense=flops_dense,
        flops_effective=flops_eff,
        activation_sparsity=act,
        weights=weights,
        nonzero_weights=nonzero_w,
    )


_SEMI_PARTS = ("packed", "meta", "packed_t", "meta_t")


def _is_semi_structured(tensor: Tensor) -> bool:
    """True for torch's 2:4 SparseSemiStructuredTensor (CUDA only)."""
    return type(tensor).__name__.startswith("SparseSemiStructured")


def _dense(tensor: Tensor) -> Tensor:
    """The tensor with zeros stored explicitly."""
    tensor = tensor.detach()
    if tensor.layout != torch.strided or _is_semi_structured(tensor):
        return tensor.to_dense()
    return tensor


def _dense_numel(tensor: Tensor) -> int:
    """Entries of the tensor as a dense array."""
    count = 1
    for dim in tensor.shape:
        count *= dim
    return count


def _nnz(tensor: Tensor) -> int:
    """Nonzero entries (exact zeros stored in CSR values do not count)."""
    if tensor.layout == torch.sparse_csr:
        return int(tensor.values().count_nonzero())
    return int(_dense(tensor).count_nonzero())


def _stored_bytes(tensor: Tensor) -> int:
    """Bytes as stored: CSR values, column indices and row pointers; 2:4 packed+meta."""
    if tensor.layout == torch.sparse_csr:
        parts = [tensor.values(), tensor.col_indices(), tensor.crow_indices()]
    elif _is_semi_structured(tensor):
        parts = [getattr(tensor, n) for n in _SEMI_PARTS]
        parts = [p for p in parts if isinstance(p, Tensor)]
    elif tensor.layout == torch.strided:
        parts = [tensor]
    else:
        warnings.warn(
            f"cannot size a {tensor.layout} tensor; counted as dense", stacklevel=4
        )
        return _dense_numel(tensor) * tensor.element_size()
    return sum(p.numel() * p.element_size() for p in parts)


def _is_weighted(mod: nn.Module) -> bool:
    """Linear, Conv, CSR and quantized Linear layers."""
    return isinstance(mod, _WEIGHTED) or is_quantized_linear(mod)


def _int8_zero_mask(mod: nn.Module) -> Tensor:
    """True where a quantized layer's int8 weight sits at its zero point (value 0)."""
    weight = mod.weight()
    if weight.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        return weight.int_repr() == weight.q_zero_point()
    points = weight.q_per_channel_zero_points()
    shape = [-1 if d == weight.q_per_channel_axis() else 1 for d in range(weight.dim())]
    return weight.int_repr() == points.reshape(shape)


def _quantized_bias(mod: nn.Module) -> Tensor:
    """A quantized layer's fp32 bias (empty when it has none)."""
    bias = mod.bias()
    return torch.zeros(0) if bias is None else bias.detach()


def _quantized_bytes(mod: nn.Module) -> int:
    """1 byte per int8 weight, 4 per scale and zero point, plus the bias bytes."""
    weight = mod.weight()
    if weight.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        scales = 1
    else:
        scales = weight.q_per_channel_scales().numel()
    bias = _quantized_bias(mod)
    return weight.numel() + 8 * scales + bias.numel() * bias.element_size()


def _weight(mod: nn.Module) -> Tensor:
    """A layer's weight as a dense tensor (quantized: 1.0 where nonzero, 0 at zero)."""
    if is_quantized_linear(mod):
        return (~_int8_zero_mask(mod)).float()
    return _dense(mod.weight)


def _weight_numel(mod: nn.Module) -> int:
    """Entries of the weight as a dense matrix."""
    if is_quantized_linear(mod):
        return mod.weight().numel()
    return _dense_numel(mod.weight)


def _weight_nnz(mod: nn.Module) -> int:
    """Nonzero weights."""
    if is_quantized_linear(mod):
        return int((~_int8_zero_mask(mod)).sum())
    return _nnz(mod.weight)


def _zero_fraction(weight: Tensor) -> float:
    """Fraction of exact zeros."""
    return 1.0 - int(weight.count_nonzero()) / weight.numel() if weight.numel() else 0.0


def _tensors(model: nn.Module) -> list[Tensor]:
    """Parameters and buffers, each once."""
    found = {id(t): t for t in list(model.parameters()) + list(model.buffers())}
    return list(found.values())


def _param_counts(model: nn.Module) -> tuple[int, int]:
    """(entries, nonzero entries) of parameters and CSR layers' tensors, as dense."""
    csr = {
        id(t) for m in model.modules() if isinstance(m, CSRLinear) for t in m.buffers()
    }
    total = nonzero = 0
    for tensor in _tensors(model):
        if isinstance(tensor, nn.Parameter) or id(tensor) in csr:
            total += _dense_numel(tensor)
            nonzero += _nnz(tensor)
    return total, nonzero


def _dense_bytes(model: nn.Module) -> int:
    """Bytes of parameters and buffers if every tensor were stored densely."""
    return sum(_dense_numel(t) * t.element_size() for t in _tensors(model))


def _format_bytes(model: nn.Module) -> int:
    """Bytes of parameters and buffers as stored."""
    return sum(_stored_bytes(t) for t in _tensors(model))


def _run_hooks(
    model: nn.Module, layers: Mapping[str, nn.Module], batch: Tensor
) -> tuple[int, int, float | None]:
    """FLOPs per item (dense, effective) and activation sparsity from one forward."""
    flops = [0, 0]
    zeros = [0, 0]

    def count_flops(mod: nn.Module, _args: Any, out: Tensor) -> None:
        per_output = _weight_numel(mod) / _units_out(mod)
        positions = out.numel() / _units_out(mod)  # batch x spatial positions
        density = _weight_nnz(mod) / max(1, _weight_numel(mod))
        flops[0] += round(2 * per_output * _units_out(mod) * positions)
        flops[1] += round(2 * per_output * _units_out(mod) * positions * density)

    def count_zeros(_mod: nn.Module, _args: Any, out: Tensor) -> None:
        zeros[0] += int((out == 0).sum())
        zeros[1] += out.numel()

    hooks = [m.register_forward_hook(count_flops) for m in layers.values()]
    hooks += [m.register_forward_hook(count_zeros) for m in _relu_like(model)]
    try:
        with torch.no_grad():
            model(batch)
    finally:
        for hook in hooks:
            hook.remove()
    items = max(1, len(batch))
    act = zeros[0] / zeros[1] if zeros[1] else None
    if act is None:
        logger.info("no ReLU-like modules to hook; activation sparsity not measured")
    return flops[0] // items, flops[1] // items, act


def _units_out(mod: nn.Module) -> int:
    """Output features or channels of a weighted layer."""
    return getattr(mod, "out_features", None) or mod.out_channels


def _relu_like(model: nn.Module) -> list[nn.Module]:
    """Modules whose outputs are exactly zero for part of their input range."""
    return [m for m in model.modules() if isinstance(m, RELU_LIKE)]
