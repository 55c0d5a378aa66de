"""Sparsification methods: each makes a NEW sparse model and a record of what it did.

Sparsity is always the fraction of Linear/Conv weights removed or zero relative to the
dense model given, whatever the method (a channel ratio is not a weight sparsity).

    dense            no change (the baseline)
    magnitude        global L1 magnitude, unstructured; masks permanent, no hooks
    structured       whole neurons/channels removed, layers really shrink
    semi-structured  2:4 on CUDA for fp16/bf16 Linear layers
    l1               short L1-penalised fine-tune, then a global threshold
    greedy           per-layer sparsity from measured sensitivity
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from torch import nn

from profiler.errors import ConfigError, DeviceUnavailable
from profiler.models.sparsify import (
    greedy,
    l1,
    magnitude,
    semi_structured,
    structured,
)
from profiler.models.sparsify.common import (
    Context,
    check_sparsity,
    current_masks,
    nonzero_weights,
    prunable_layers,
    require_labels,
    total_weights,
)
from profiler.models.sparsify.finetune import train

logger = logging.getLogger(__name__)

__all__ = ["METHODS", "TRAINED_METHODS", "SparsifyRecord", "sparsify"]

_MODULES: Mapping[str, ModuleType | None] = {
    "dense": None,
    "magnitude": magnitude,
    "structured": structured,
    "semi-structured": semi_structured,
    "l1": l1,
    "greedy": greedy,
}
METHODS: tuple[str, ...] = tuple(_MODULES)
#: Methods that train on labelled data (x_train, y_train); so does finetune_epochs.
TRAINED_METHODS: tuple[str, ...] = ("l1", "greedy")


@dataclass(frozen=True)
class SparsifyRecord:
    """What a sparsifier did; sparsities are fractions (0..1) of the dense weights."""

    method: str
    target_sparsity: float
    measured_sparsity: float
    per_layer: Mapping[str, float]
    finetune_epochs: int
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain values for storage."""
        return {
            "method": self.method,
            "target_sparsity": self.target_sparsity,
            "measured_sparsity": self.measured_sparsity,
            "per_layer": dict(self.per_layer),
            "finetune_epochs": self.finetune_epochs,
            "notes": list(self.notes),
        }


def sparsify(
    model: nn.Module,
    method: str,
    sparsity: float,
    *,
    data: Any = None,
    device: str = "cpu",
    finetune_epochs: int = 0,
    seed: int = 0,
) -> tuple[nn.Module, SparsifyRecord]:
    """Return a sparse copy of ``model`` and its record; ``model`` is left untouched."""
    if method not in _MODULES:
        raise ConfigError(f"unknown sparsity method {method!r}; choose one of {METHODS}")
    target = 0.0 if method == "dense" else check_sparsity(sparsity)
    if finetune_epochs < 0:
        raise ConfigError(
            f"finetune_epochs {finetune_epochs} is negative; give 0 or more"
        )
    dense_layers = {n: m.weight.numel() for n, m in prunable_layers(model).items()}
    if not dense_layers:
        raise ConfigError(
            "the model has no Linear or Conv layers to sparsify (torch.export and "
            "TorchScript programs cannot be pruned); use an energy-profiler checkpoint"
        )
    dense_total = total_weights(model)
    ctx = Context(data=data, seed=seed, device=device)
    new = copy.deepcopy(model)
    if method != "semi-structured":  # it checks for CUDA itself, with its own message
        new.to(_checked_device(device))
    impl = _MODULES[method]
    notes = impl.prune(new, target, ctx) if impl else ["dense baseline, unchanged"]
    if finetune_epochs and method != "dense":
        notes += _finetune(new, ctx, finetune_epochs, method)
    measured = 1.0 - nonzero_weights(new) / dense_total
    per_layer = {
        name: 1.0 - int(mod.weight.count_nonzero()) / dense_layers[name]
        for name, mod in prunable_layers(new).items()
    }
    if impl is not None and hasattr(impl, "finalize"):
        notes += impl.finalize(new, ctx)
    new.eval()
    record = SparsifyRecord(
        method, target, measured, per_layer, finetune_epochs if impl else 0, tuple(notes)
    )
    logger.info("%s at %.3f: measured %.4f", method, target, measured)
    return new, record


def _checked_device(device: str) -> torch.device:
    """Return ``device``, or raise DeviceUnavailable if it cannot be used here."""
    try:
        target = torch.device(device)
    except RuntimeError as err:
        raise ConfigError(f"device {device!r} is not a torch device name") from err
    if target.type == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(f"device {device!r}: no CUDA GPU is available here")
    if target.type not in ("cpu", "cuda"):
        raise DeviceUnavailable(f"device {device!r} is not supported; use cpu or cuda")
    return target


def _finetune(model: nn.Module, ctx: Context, epochs: int, method: str) -> list[str]:
    """Fine-tune keeping the zero pattern; return a note."""
    x, y = require_labels(ctx.data, f"{method} with finetune_epochs")
    masks = current_masks(model)
    loss = train(
        model, x, y, epochs=epochs, seed=ctx.seed, device=ctx.device, masks=masks
    )
    return [f"fine-tuned {epochs} epochs keeping the sparsity pattern (loss {loss:.4f})"]
