"""Short supervised training that keeps a sparsity pattern fixed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from profiler.models.sparsify.common import apply_masks, prunable_layers

logger = logging.getLogger(__name__)

__all__ = ["train"]

Penalty = Callable[[nn.Module], Tensor]


def train(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    epochs: int,
    seed: int = 0,
    device: str = "cpu",
    masks: Mapping[str, Tensor] | None = None,
    penalty: Penalty | None = None,
    lr: float = 1e-3,
    batch_size: int = 64,
) -> float:
    """Train with Adam and cross-entropy; return the last epoch's mean loss.

    With ``masks``, gradients of masked weights are zeroed and the masks re-applied
    after every step, so weights that were zero stay exactly zero.
    """
    generator = torch.Generator().manual_seed(seed)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    layers = prunable_layers(model)
    x, y = x.to(device), y.to(device)
    loss_mean = float("nan")
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            if penalty is not None:
                loss = loss + penalty(model)
            optimizer.zero_grad()
            loss.backward()
            if masks:
                _mask_grads(layers, masks)
            optimizer.step()
            if masks:
                apply_masks(model, masks)
            total += float(loss.detach()) * len(idx)
        loss_mean = total / len(x)
        logger.debug("epoch %d: loss %.4f", epoch + 1, loss_mean)
    model.eval()
    return loss_mean


def _mask_grads(layers: Mapping[str, nn.Module], masks: Mapping[str, Tensor]) -> None:
    """Zero the gradient of every masked weight."""
    for name, mask in masks.items():
        grad = layers[name].weight.grad
        if grad is not None:
            grad.mul_(mask.to(device=grad.device, dtype=grad.dtype))
