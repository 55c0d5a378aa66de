"""Helpers the sparsifiers share: which layers count, masks, counting zeros."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from profiler.errors import ConfigError

__all__ = [
    "PRUNABLE",
    "Context",
    "apply_masks",
    "check_sparsity",
    "current_masks",
    "example_input",
    "nonzero_weights",
    "prunable_layers",
    "require_labels",
    "total_weights",
]

PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class Context:
    """Options every sparsifier receives besides the model and the target."""

    data: Any = None  # a profiler.models.data.Dataset, or None
    seed: int = 0
    device: str = "cpu"


def prunable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The Linear and Conv layers of ``model``, by qualified name, in order."""
    return {name: mod for name, mod in model.named_modules() if isinstance(mod, PRUNABLE)}


def total_weights(model: nn.Module) -> int:
    """Number of weights (not biases) in the prunable layers."""
    return sum(mod.weight.numel() for mod in prunable_layers(model).values())


def nonzero_weights(model: nn.Module) -> int:
    """Number of nonzero weights in the prunable layers."""
    return sum(int(mod.weight.count_nonzero()) for mod in prunable_layers(model).values())


def current_masks(model: nn.Module) -> dict[str, Tensor]:
    """The present sparsity pattern: True where a prunable weight is nonzero."""
    return {
        name: mod.weight.detach() != 0 for name, mod in prunable_layers(model).items()
    }


def apply_masks(model: nn.Module, masks: Mapping[str, Tensor]) -> None:
    """Zero the weights outside ``masks`` in place (permanent: no hooks are added)."""
    layers = prunable_layers(model)
    with torch.no_grad():
        for name, mask in masks.items():
            weight = layers[name].weight
            weight.mul_(mask.to(device=weight.device, dtype=weight.dtype))


def check_sparsity(sparsity: float) -> float:
    """Return ``sparsity`` as a float, or raise ConfigError if outside [0, 1)."""
    value = float(sparsity)
    if not 0.0 <= value < 1.0:
        raise ConfigError(
            f"sparsity {sparsity!r} is out of range; give a value in [0, 1)"
        )
    return value


def require_labels(data: Any, method: str) -> tuple[Tensor, Tensor]:
    """Return labelled training data, or raise ConfigError saying the method needs it."""
    x, y = getattr(data, "x_train", None), getattr(data, "y_train", None)
    if x is None or y is None:
        raise ConfigError(
            f"method {method!r} needs labelled training data (x_train and y_train), "
            "which a user file loaded with load_data lacks (it is used whole as the "
            "test split); pass data=load_data('digits') or a Dataset with x_train and "
            "y_train"
        )
    return x, y


def example_input(model: nn.Module, data: Any = None, batch: int = 2) -> Tensor:
    """A small batch the model accepts: from the data, the model's input_shape, or
    the first Linear layer's width."""
    x = getattr(data, "x_train", None)
    if x is None:
        x = getattr(data, "x_test", None)
    if x is not None:
        return x[:batch]
    shape = getattr(model, "input_shape", None)
    if shape:
        return torch.zeros(batch, *shape)
    first = next(iter(prunable_layers(model).values()), None)
    if isinstance(first, nn.Linear):
        return torch.zeros(batch, first.in_features)
    raise ConfigError(
        "cannot tell the model's input shape; pass data so an example batch exists"
    )
