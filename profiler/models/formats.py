"""Execution formats: how a (sparse) model's Linear layers are stored and multiplied.

    dense  zeros stored densely (the masked baseline)
    csr    Linear weights as torch sparse CSR, y = (b + W @ x.T).T with sparse kernels
    auto   per Linear layer, the faster of dense and csr, timed on the input the layer
           really receives once the layers before it are chosen (a CSR layer hands on
           a transposed tensor, which changes the next layer's cost); then the whole
           model is timed against all-dense and all-csr and the fastest is kept

CSR layers run under ``torch.no_grad()`` but not ``torch.inference_mode()``: torch's
sparse kernels fail there ("Cannot set version_counter for inference tensor"), so a CSR
layer raises ConfigError under inference mode. Conv layers always stay dense.
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from profiler.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["FORMATS", "CSRLinear", "FormatRecord", "time_layer_s", "to_format"]

FORMATS: tuple[str, ...] = ("dense", "csr", "auto")
TIMING_REPEATS = 5


@dataclass(frozen=True)
class FormatRecord:
    """The format asked for and, per Linear layer, the format chosen."""

    fmt: str
    per_layer: Mapping[str, str]
    # auto only: per layer, median seconds per call of (dense, csr)
    timings_s: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    # auto only: median seconds per batch of the whole model, per candidate
    whole_model_s: Mapping[str, float] = field(default_factory=dict)


class CSRLinear(nn.Module):
    """A Linear layer whose weight is a sparse CSR tensor (inference only)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
            weight = linear.weight.detach().to_sparse_csr()
        self.register_buffer("weight", weight)
        bias = linear.bias
        bias = torch.zeros(self.out_features) if bias is None else bias.detach().clone()
        self.register_buffer("bias", bias.to(linear.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        """Compute x @ W.T + b as (b + W @ x.T).T, the layout sparse kernels favour."""
        if torch.is_inference_mode_enabled():
            raise ConfigError(
                "csr layers cannot run under torch.inference_mode(); use torch.no_grad()"
            )
        flat = x.reshape(-1, self.in_features)
        out = torch.addmm(self.bias.unsqueeze(1), self.weight, flat.t()).t()
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        """Sizes and nonzeros, for printing."""
        nnz = self.weight.values().numel()
        return f"in={self.in_features}, out={self.out_features}, nnz={nnz}"


def to_format(
    model: nn.Module, fmt: str, example_input: Tensor
) -> tuple[nn.Module, FormatRecord]:
    """Return a copy of ``model`` in ``fmt``; ``example_input`` is a batch as profiled."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {FORMATS}")
    new = copy.deepcopy(model)
    linears = {n: m for n, m in new.named_modules() if isinstance(m, nn.Linear)}
    if fmt == "dense":
        return new, FormatRecord(fmt, dict.fromkeys(linears, "dense"))
    if fmt == "auto":
        return _auto(model, new, linears, example_input)
    choice = dict.fromkeys(linears, "csr")
    _convert(new, linears, choice)
    logger.info("format %s: %s", fmt, choice)
    return new, FormatRecord(fmt, choice)


def _convert(model: nn.Module, linears: Mapping[str, nn.Module], choice) -> None:
    for name, kind in choice.items():
        if kind == "csr":
            _replace(model, name, CSRLinear(linears[name]))


def _auto(
    original: nn.Module, new: nn.Module, linears: Mapping[str, nn.Module], x: Tensor
) -> tuple[nn.Module, FormatRecord]:
    """Choose layer by layer in forward order, then guard against the pure formats."""
    choice = dict.fromkeys(linears, "dense")
    timings: dict[str, tuple[float, float]] = {}
    for name in _layer_inputs(new, linears, x):  # the order layers run in
        seen = _layer_inputs(new, {name: linears[name]}, x)[name]
        timings[name] = _race(linears[name], seen)
        if timings[name][1] < timings[name][0]:
            choice[name] = "csr"
            _replace(new, name, CSRLinear(linears[name]))

    candidates = {"auto": (new, choice)}
    for pure in ("dense", "csr"):
        if set(choice.values()) != {pure}:
            model = copy.deepcopy(original)
            mods = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)}
            _convert(model, mods, dict.fromkeys(mods, pure))
            candidates[pure] = (model, dict.fromkeys(mods, pure))
    whole = {k: time_layer_s(m, x) for k, (m, _) in candidates.items()}
    best = min(whole, key=lambda k: (whole[k], k != "auto"))
    model, choice = candidates[best]
    logger.info("format auto: %s (whole model s/batch %s)", choice, whole)
    return model, FormatRecord("auto", choice, timings, whole)


def _layer_inputs(
    model: nn.Module, linears: Mapping[str, nn.Module], example: Tensor
) -> dict[str, Tensor]:
    """The input each Linear layer receives when the model runs on ``example``."""
    seen: dict[str, Tensor] = {}

    def keep(name: str) -> Callable[..., None]:
        def hook(_mod: nn.Module, args: tuple[Tensor, ...], _out: Tensor) -> None:
            seen.setdefault(name, args[0].detach())

        return hook

    hooks = [mod.register_forward_hook(keep(name)) for name, mod in linears.items()]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def _race(linear: nn.Module, x: Tensor) -> tuple[float, float]:
    """Median seconds per call of the dense layer and of its CSR version on ``x``."""
    sparse = CSRLinear(linear)
    return time_layer_s(linear, x), time_layer_s(sparse, x)


def time_layer_s(
    layer: Callable[[Tensor], Tensor],
    x: Tensor,
    repeats: int = TIMING_REPEATS,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Median wall seconds of ``layer(x)`` over ``repeats`` calls after one warm-up."""
    times = []
    with torch.no_grad():
        layer(x)
        for _ in range(repeats):
            start = clock()
            layer(x)
            if x.is_cuda:
                torch.cuda.synchronize(x.device)
            times.append(clock() - start)
    return sorted(times)[len(times) // 2]


def _replace(model: nn.Module, name: str, layer: nn.Module) -> None:
    """Swap the submodule at dotted ``name`` for ``layer``."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, layer)
