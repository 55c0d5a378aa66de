"""Heuristic search: per-layer sparsity chosen by measured sensitivity.

Each layer is pruned alone (magnitude, within the layer) at a grid of levels and the
accuracy drop is measured on a validation part of the training split (never the test
split). Then, starting from nothing, the layer whose next level costs the least
accuracy per weight removed is advanced until the global target is met exactly.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

from profiler.errors import ConfigError
from profiler.models.sparsify.common import Context, prunable_layers, require_labels

logger = logging.getLogger(__name__)

__all__ = ["LEVELS", "allocate", "prune", "sensitivity"]

LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99)
VALIDATION_FRACTION = 0.2


def _layer_mask(weight: Tensor, count: int) -> Tensor:
    """Mask zeroing the ``count`` smallest |w| of one layer."""
    keep = torch.ones(weight.numel(), dtype=torch.bool, device=weight.device)
    if count:
        flat = weight.detach().abs().flatten()
        keep[torch.topk(flat, count, largest=False, sorted=False).indices] = False
    return keep.reshape(weight.shape)


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Top-1 accuracy on a small validation batch."""
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def sensitivity(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, list[float]]:
    """Accuracy drop at each of LEVELS when one layer alone is pruned (monotone)."""
    model.eval()
    base = _accuracy(model, x, y)
    drops: dict[str, list[float]] = {}
    for name, layer in prunable_layers(model).items():
        original = layer.weight.detach().clone()
        curve, worst = [], 0.0
        for level in LEVELS:
            with torch.no_grad():
                mask = _layer_mask(original, round(level * original.numel()))
                layer.weight.copy_(original * mask)
            worst = max(worst, base - _accuracy(model, x, y))
            curve.append(worst)
        with torch.no_grad():
            layer.weight.copy_(original)
        drops[name] = curve
    return drops


def allocate(sizes: dict[str, int], drops: dict[str, list[float]], target: float) -> dict:
    """Per-layer counts of weights to remove, summing to round(target * total)."""
    goal = round(target * sum(sizes.values()))
    step = dict.fromkeys(sizes, 0)
    counts = dict.fromkeys(sizes, 0)
    while sum(counts.values()) < goal:
        open_layers = [n for n in sizes if step[n] + 1 < len(LEVELS)]
        if not open_layers:
            raise ConfigError(f"greedy cannot reach sparsity {target}; the most is 0.99")

        def cost(name: str) -> tuple[float, int]:
            i = step[name]
            gain = (LEVELS[i + 1] - LEVELS[i]) * sizes[name]
            return (drops[name][i + 1] - drops[name][i]) / gain, -sizes[name]

        best = min(open_layers, key=cost)
        step[best] += 1
        counts[best] = round(LEVELS[step[best]] * sizes[best])
        excess = sum(counts.values()) - goal
        if excess > 0:
            counts[best] -= excess
    return counts


def _split(data: object, seed: int) -> tuple[Tensor, Tensor]:
    """The validation part of the labelled training data."""
    x, y = require_labels(data, "greedy")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    val = order[: max(1, int(len(x) * VALIDATION_FRACTION))]
    return x[val], y[val]


def prune(model: nn.Module, sparsity: float, ctx: Context) -> list[str]:
    """Prune each layer to its allocated share, in place; return notes."""
    x, y = _split(ctx.data, ctx.seed)
    x, y = x.to(ctx.device), y.to(ctx.device)
    layers = prunable_layers(model)
    drops = sensitivity(model, x, y)
    sizes = {name: layer.weight.numel() for name, layer in layers.items()}
    counts = allocate(sizes, drops, sparsity)
    with torch.no_grad():
        for name, layer in layers.items():
            layer.weight.mul_(_layer_mask(layer.weight, counts[name]))
    shares = ", ".join(f"{n}={counts[n] / sizes[n]:.3f}" for n in layers)
    logger.info("greedy allocation: %s", shares)
    return [f"per-layer sparsity by sensitivity on {len(x)} validation items: {shares}"]
