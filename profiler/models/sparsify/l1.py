"""Learned sparsity: a short fine-tune with an L1 penalty, then a global threshold."""

from __future__ import annotations

from torch import Tensor, nn

from profiler.models.sparsify import magnitude
from profiler.models.sparsify.common import (
    Context,
    apply_masks,
    prunable_layers,
    require_labels,
)
from profiler.models.sparsify.finetune import train

__all__ = ["L1_EPOCHS", "L1_LAMBDA", "prune"]

L1_EPOCHS = 5
L1_LAMBDA = 1e-5  # per unit of summed |w|


def _penalty(model: nn.Module) -> Tensor:
    """L1 norm of all prunable weights, scaled by L1_LAMBDA."""
    layers = prunable_layers(model).values()
    return L1_LAMBDA * sum(layer.weight.abs().sum() for layer in layers)


def prune(model: nn.Module, sparsity: float, ctx: Context) -> list[str]:
    """Train with an L1 penalty (pushing weights to zero), then zero the smallest."""
    x, y = require_labels(ctx.data, "l1")
    train(
        model, x, y, epochs=L1_EPOCHS, seed=ctx.seed, device=ctx.device, penalty=_penalty
    )
    apply_masks(model, magnitude.global_masks(prunable_layers(model), sparsity))
    return [f"{L1_EPOCHS} epochs with L1 penalty {L1_LAMBDA:g}, then global threshold"]
