"""Structured pruning: remove whole neurons or channels so that layers really shrink.

Every hidden Linear/Conv layer loses the same fraction of its output units, those with
the smallest L2 norm; the fraction is chosen so that the weights removed (counted
against the dense model) come closest to the target. The output layer keeps its width.
Shrinking uses torch-pruning's dependency graph when it is importable and works, and
falls back to slicing the chain of layers directly (MLPs and plain CNNs).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from profiler.errors import ConfigError
from profiler.models.sparsify.common import Context, example_input, prunable_layers

logger = logging.getLogger(__name__)

__all__ = ["StructuredPlan", "apply", "masked_equivalent", "plan", "prune"]


@dataclass(frozen=True)
class StructuredPlan:
    """Which output units each hidden layer loses, and the uniform ratio behind it."""

    chain: tuple[str, ...]  # prunable layers in execution order
    removed: Mapping[str, tuple[int, ...]]
    unit_ratio: float
    weight_sparsity: float  # fraction of dense weights removed by this plan


def _chain(model: nn.Module, example: Tensor) -> list[str]:
    """Prunable layers in execution order; each must feed the next (a plain chain)."""
    layers = prunable_layers(model)
    order: list[str] = []
    hooks = [
        mod.register_forward_hook(lambda _m, _i, _o, n=name: order.append(n))
        for name, mod in layers.items()
    ]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for hook in hooks:
            hook.remove()
    if len(order) != len(set(order)) or len(order) < 2:
        raise ConfigError("structured pruning needs a chain of >= 2 Linear/Conv layers")
    for prev, nxt in zip(order[:-1], order[1:]):
        _check_link(layers[prev], layers[nxt])
    return order


def _units_out(mod: nn.Module) -> int:
    """Output neurons (Linear) or channels (Conv)."""
    return mod.out_features if isinstance(mod, nn.Linear) else mod.out_channels


def _units_in(mod: nn.Module) -> int:
    """Input features (Linear) or channels (Conv)."""
    return mod.in_features if isinstance(mod, nn.Linear) else mod.in_channels


def _check_link(prev: nn.Module, nxt: nn.Module) -> None:
    """Raise ConfigError unless ``prev``'s outputs are exactly ``nxt``'s inputs."""
    grouped = any(getattr(m, "groups", 1) != 1 for m in (prev, nxt))
    units, width = _units_out(prev), _units_in(nxt)
    fits = width == units or (isinstance(nxt, nn.Linear) and width % units == 0)
    if grouped or not fits or (isinstance(prev, nn.Linear) and width != units):
        raise ConfigError(
            "structured pruning supports chains of Linear/Conv layers (MLPs, plain "
            f"CNNs); layers of {units} outputs and {width} inputs do not chain"
        )


def plan(
    model: nn.Module, sparsity: float, example: Tensor | None = None
) -> StructuredPlan:
    """Choose the units to remove so the weight sparsity comes closest to ``sparsity``."""
    example = example_input(model) if example is None else example
    layers = prunable_layers(model)
    chain = _chain(model, example)
    norms = {
        n: layers[n].weight.detach().flatten(1).norm(dim=1).cpu() for n in chain[:-1]
    }
    low, high = 0.0, 1.0
    for _ in range(40):  # bisection: removed weights grow with the unit ratio
        mid = (low + high) / 2
        if _sparsity_at(layers, chain, mid) < sparsity:
            low = mid
        else:
            high = mid
    ratio = min((low, high), key=lambda r: abs(_sparsity_at(layers, chain, r) - sparsity))
    removed = {}
    for name in chain[:-1]:
        count = len(norms[name]) - _kept(len(norms[name]), ratio)
        idx = torch.argsort(norms[name], stable=True)[:count]
        removed[name] = tuple(sorted(int(i) for i in idx))
    return StructuredPlan(
        tuple(chain), removed, ratio, _sparsity_at(layers, chain, ratio)
    )


def _kept(units: int, ratio: float) -> int:
    """Units a layer keeps at ``ratio``; at least one."""
    return max(1, units - math.floor(units * ratio + 1e-9))


def _sparsity_at(
    layers: Mapping[str, nn.Module], chain: list[str], ratio: float
) -> float:
    """Fraction of the chain's weights removed when hidden layers lose ``ratio``."""
    dense = kept = 0
    prev_units = prev_kept = None
    for name in chain:
        weight = layers[name].weight
        rows = weight.shape[0]
        rows_kept = rows if name == chain[-1] else _kept(rows, ratio)
        cols_frac = 1.0 if prev_units is None else prev_kept / prev_units
        dense += weight.numel()
        kept += round(weight.numel() * rows_kept / rows * cols_frac)
        prev_units, prev_kept = rows, rows_kept
    return 1.0 - kept / dense


def apply(model: nn.Module, chosen: StructuredPlan, example: Tensor) -> str:
    """Shrink ``model`` in place; return which implementation did it."""
    try:
        _apply_torch_pruning(model, chosen, example)
        return "torch-pruning"
    except ImportError:
        logger.info("torch-pruning not importable; slicing the layer chain directly")
    _apply_slicing(model, chosen)
    return "own slicing"


def _apply_torch_pruning(
    model: nn.Module, chosen: StructuredPlan, example: Tensor
) -> None:
    """Remove the planned units with torch-pruning's dependency graph."""
    import torch_pruning as tp

    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example)
    layers = prunable_layers(model)
    for name, idxs in chosen.removed.items():
        if not idxs:
            continue
        mod = layers[name]
        fn = tp.prune_linear_out_channels if isinstance(mod, nn.Linear) else None
        fn = fn or tp.prune_conv_out_channels
        group = graph.get_pruning_group(mod, fn, idxs=list(idxs))
        if not graph.check_pruning_group(group):
            raise ConfigError(f"torch-pruning cannot remove units of layer {name}")
        group.prune()


def _apply_slicing(model: nn.Module, chosen: StructuredPlan) -> None:
    """Remove the planned units by slicing weights along the chain (no torch-pruning)."""
    layers = prunable_layers(model)
    for prev_name, next_name in zip(chosen.chain[:-1], chosen.chain[1:]):
        prev, nxt = layers[prev_name], layers[next_name]
        units = _units_out(prev)
        keep = _kept_index(units, chosen.removed.get(prev_name, ()))
        cols = _input_index(nxt, units, keep)
        with torch.no_grad():
            prev.weight = nn.Parameter(prev.weight[keep].clone())
            if prev.bias is not None:
                prev.bias = nn.Parameter(prev.bias[keep].clone())
            nxt.weight = nn.Parameter(nxt.weight[:, cols].clone())
        _set_units(prev, out=len(keep))
        _set_units(nxt, inp=len(cols))


def _kept_index(units: int, removed: tuple[int, ...]) -> Tensor:
    """Indices of the units that stay."""
    gone = set(removed)
    return torch.tensor([i for i in range(units) if i not in gone], dtype=torch.long)


def _input_index(nxt: nn.Module, units: int, keep: Tensor) -> Tensor:
    """Input columns of ``nxt`` fed by the kept units (a flattened conv feeds blocks)."""
    block = _units_in(nxt) // units
    return (keep[:, None] * block + torch.arange(block)[None, :]).flatten()


def _set_units(mod: nn.Module, *, out: int | None = None, inp: int | None = None) -> None:
    """Update a layer's size attributes after slicing its weight."""
    linear = isinstance(mod, nn.Linear)
    if out is not None:
        setattr(mod, "out_features" if linear else "out_channels", out)
    if inp is not None:
        setattr(mod, "in_features" if linear else "in_channels", inp)


def masked_equivalent(model: nn.Module, chosen: StructuredPlan) -> nn.Module:
    """A dense copy with the planned units zeroed (rows, biases, consumer columns).

    With activations that map 0 to 0 (ReLU), it computes what the shrunk model does.
    """
    masked = copy.deepcopy(model)
    layers = prunable_layers(masked)
    with torch.no_grad():
        for prev_name, next_name in zip(chosen.chain[:-1], chosen.chain[1:]):
            gone = torch.tensor(chosen.removed.get(prev_name, ()), dtype=torch.long)
            prev, nxt = layers[prev_name], layers[next_name]
            prev.weight[gone] = 0
            if prev.bias is not None:
                prev.bias[gone] = 0
            nxt.weight[:, _input_index(nxt, _units_out(prev), gone)] = 0
    return masked


def prune(model: nn.Module, sparsity: float, ctx: Context) -> list[str]:
    """Shrink hidden layers in place to reach ``sparsity`` of the dense weights."""
    example = example_input(model, ctx.data).cpu()
    chosen = plan(model, sparsity, example)
    how = apply(model, chosen, example)
    return [
        f"removed {chosen.unit_ratio:.3f} of the units of each hidden layer ({how}); "
        f"planned weight sparsity {chosen.weight_sparsity:.4f}"
    ]
