"""Numeric precision of a (sparsified, formatted) model: fp32, bf16, fp16 or int8.

    fp32  unchanged (a copy)
    bf16  every floating tensor cast with ``.to(torch.bfloat16)``; inputs must be cast
    fp16  likewise with ``torch.float16``
    int8  dynamic int8 quantization of nn.Linear layers with the eager-mode API
          ``torch.ao.quantization.quantize_dynamic`` (weights int8 per tensor,
          activations quantized on the fly; inputs and outputs stay fp32). Conv layers
          have no dynamic int8 kernel there and stay fp32.

What torch 2.13 cannot run is refused with one line instead of measured silently:
CSR layers in bf16/fp16 on CPU (no sparse addmm kernel), CSR layers in int8 (the
quantizer only knows nn.Linear), and int8 on CUDA (the quantized kernels are CPU-only).
Zeros survive every conversion: a cast keeps 0 exact and symmetric int8 quantization
maps 0 to the zero point 0.
"""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from profiler.errors import ConfigError, DeviceUnavailable
from profiler.models.formats import CSRLinear

logger = logging.getLogger(__name__)

__all__ = [
    "BYTES_PER_WEIGHT",
    "DTYPES",
    "INT8_API",
    "PrecisionRecord",
    "is_quantized_linear",
    "to_precision",
    "torch_dtype",
]

DTYPES: tuple[str, ...] = ("fp32", "bf16", "fp16", "int8")
BYTES_PER_WEIGHT = {"fp32": 4, "bf16": 2, "fp16": 2, "int8": 1}
INT8_API = "torch.ao.quantization.quantize_dynamic"
_TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class PrecisionRecord:
    """What a precision conversion did; ``input_dtype`` is what the batch must be."""

    dtype: str
    bytes_per_weight: int  # bytes of one stored weight value (int8: scales aside)
    input_dtype: str  # "fp32", "bf16" or "fp16": cast the input batch to this
    notes: tuple[str, ...] = ()


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of an input dtype name ("fp32", "bf16", "fp16")."""
    if name not in _TORCH_DTYPES:
        choices = tuple(_TORCH_DTYPES)
        raise ConfigError(f"no input dtype {name!r}; choose one of {choices}")
    return _TORCH_DTYPES[name]


def is_quantized_linear(module: nn.Module) -> bool:
    """True for torch's dynamic (or static) quantized Linear module."""
    if not type(module).__module__.startswith("torch.ao.nn.quantized"):
        return False
    return hasattr(module, "in_features") and callable(getattr(module, "weight", None))


def to_precision(
    model: nn.Module, dtype: str, *, device: str = "cpu"
) -> tuple[nn.Module, PrecisionRecord]:
    """Return a copy of ``model`` in ``dtype`` for ``device``, and what was done.

    Raises ConfigError or DeviceUnavailable (one line, naming --dtype) for combinations
    torch cannot run; the input model is never modified.
    """
    if dtype not in DTYPES:
        raise ConfigError(f"--dtype {dtype!r} is not known; choose from {DTYPES}")
    has_csr = any(isinstance(m, CSRLinear) for m in model.modules())
    if dtype == "fp32":
        return copy.deepcopy(model), PrecisionRecord("fp32", 4, "fp32")
    if dtype == "int8":
        return _to_int8(model, device, has_csr)
    return _to_half(model, dtype, device, has_csr)


def _to_half(
    model: nn.Module, dtype: str, device: str, has_csr: bool
) -> tuple[nn.Module, PrecisionRecord]:
    """bf16 or fp16 by casting every floating tensor."""
    if has_csr and not device.startswith("cuda"):
        raise ConfigError(
            f"--dtype {dtype} with csr layers: torch {torch.__version__} has no CPU "
            f"sparse CSR matmul for {dtype}; use --format dense with --dtype {dtype}"
        )
    if dtype == "bf16" and device.startswith("cuda") and not _cuda_bf16(device):
        raise DeviceUnavailable(
            f"--dtype bf16: {device} does not support bfloat16; use fp16 or fp32"
        )
    new = copy.deepcopy(model).to(_TORCH_DTYPES[dtype])
    notes = (f"all floating tensors cast with .to(torch.{_TORCH_DTYPES[dtype]})",)
    return new, PrecisionRecord(dtype, 2, dtype, notes)


def _cuda_bf16(device: str) -> bool:
    """Whether the CUDA device supports bfloat16."""
    with torch.cuda.device(device):
        return bool(torch.cuda.is_bf16_supported())


def _to_int8(
    model: nn.Module, device: str, has_csr: bool
) -> tuple[nn.Module, PrecisionRecord]:
    """Dynamic int8 quantization of the Linear layers (CPU only)."""
    if device != "cpu":
        raise DeviceUnavailable(
            f"--dtype int8 on {device}: {INT8_API} has CPU kernels only; use "
            "--device cpu for int8"
        )
    if has_csr:
        raise ConfigError(
            f"--dtype int8 with csr layers: {INT8_API} quantizes nn.Linear only and "
            "torch has no int8 sparse CSR kernel; use --format dense with --dtype int8"
        )
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(
            "--dtype int8: the model has no nn.Linear layer to quantize; use fp32, "
            "bf16 or fp16"
        )
    source = copy.deepcopy(model).cpu().float()
    with warnings.catch_warnings():  # the eager API is deprecated in favour of torchao
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantized tensor creation")
        from torch.ao.quantization import quantize_dynamic

        new = quantize_dynamic(source, {nn.Linear}, dtype=torch.qint8)
    notes = [
        f"{INT8_API} (eager mode, deprecated in favour of torchao, not installed): "
        f"{len(linears)} Linear layer(s) int8 per tensor, activations fp32 in and out"
    ]
    convs = sum(isinstance(m, nn.modules.conv._ConvNd) for m in new.modules())
    if convs:
        notes.append(f"{convs} Conv layer(s) stay fp32 (no dynamic int8 kernel)")
    return new, PrecisionRecord("int8", 1, "fp32", tuple(notes))
