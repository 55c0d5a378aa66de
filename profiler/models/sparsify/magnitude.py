"""Unstructured global magnitude pruning over all Linear and Conv weights."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from profiler.models.sparsify.common import Context, apply_masks, prunable_layers

__all__ = ["global_masks", "prune"]


def global_masks(layers: Mapping[str, nn.Module], sparsity: float) -> dict[str, Tensor]:
    """Masks that zero the ``sparsity`` fraction of smallest |w| across all layers.

    Exactly round(sparsity * total) weights are masked; ties are broken by position.
    """
    flat = torch.cat(
        [m.weight.detach().abs().flatten().float().cpu() for m in layers.values()]
    )
    count = round(sparsity * flat.numel())
    keep = torch.ones(flat.numel(), dtype=torch.bool)
    if count:
        keep[torch.topk(flat, count, largest=False, sorted=False).indices] = False
    masks, start = {}, 0
    for name, module in layers.items():
        size = module.weight.numel()
        masks[name] = keep[start : start + size].reshape(module.weight.shape)
        start += size
    return masks


def prune(model: nn.Module, sparsity: float, ctx: Context) -> list[str]:
    """Zero the smallest weights globally, in place; return notes."""
    layers = prunable_layers(model)
    apply_masks(model, global_masks(layers, sparsity))
    return [f"global L1 magnitude over {len(layers)} Linear/Conv layers"]
