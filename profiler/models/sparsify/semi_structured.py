"""Semi-structured 2:4 sparsity for fp16/bf16 Linear layers on CUDA.

In every group of 4 consecutive input weights of a row the 2 smallest |w| are zeroed;
after the optional fine-tune, eligible weights are converted with
``torch.sparse.to_sparse_semi_structured`` so that sparse tensor cores run them.
"""

from __future__ import annotations

import logging
import warnings

import torch
from torch import Tensor, nn

from profiler.errors import DeviceUnavailable
from profiler.models.sparsify.common import Context, apply_masks

logger = logging.getLogger(__name__)

__all__ = ["eligible", "finalize", "prune", "two_four_mask"]

_UNAVAILABLE = (
    "semi-structured 2:4 sparsity needs a CUDA GPU; not supported on this device"
)
_HALF = (torch.float16, torch.bfloat16)
_MIN_ROWS, _MIN_COLS = 32, 64  # shape multiples the CUTLASS/cuSPARSELt kernels accept


def two_four_mask(weight: Tensor) -> Tensor:
    """Keep the 2 largest |w| in each group of 4 along the last dimension."""
    if weight.shape[-1] % 4:
        raise ValueError(f"last dimension {weight.shape[-1]} is not a multiple of 4")
    groups = weight.detach().abs().reshape(-1, 4)
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(1, groups.topk(2, dim=1).indices, True)
    return keep.reshape(weight.shape)


def eligible(module: nn.Module) -> bool:
    """True for a Linear layer whose shape the 2:4 kernels accept."""
    if not isinstance(module, nn.Linear):
        return False
    rows, cols = module.weight.shape
    return rows % _MIN_ROWS == 0 and cols % _MIN_COLS == 0


def _check_device(device: str) -> torch.device:
    """Return the CUDA device, or raise DeviceUnavailable."""
    target = torch.device(device)
    if target.type != "cuda" or not torch.cuda.is_available():
        raise DeviceUnavailable(f"{_UNAVAILABLE} (device {device!r})")
    return target


def prune(model: nn.Module, sparsity: float, ctx: Context) -> list[str]:
    """Move to CUDA in half precision and apply 2:4 masks to eligible Linear layers."""
    target = _check_device(ctx.device)
    notes = []
    if abs(sparsity - 0.5) > 1e-9:
        message = (
            f"2:4 sparsity is fixed at 50% of eligible layers; target {sparsity} ignored"
        )
        warnings.warn(message, stacklevel=3)
        notes.append(message)
    model.to(target)
    if next(model.parameters()).dtype not in _HALF:
        model.half()
        notes.append("converted to fp16, the dtype 2:4 kernels need")
    masks, skipped = {}, []
    for name, module in model.named_modules():
        if eligible(module):
            masks[name] = two_four_mask(module.weight)
        elif isinstance(module, nn.Linear):
            skipped.append(name)
    apply_masks(model, masks)
    notes.append(f"2:4 masks on {len(masks)} Linear layers; shape-ineligible: {skipped}")
    return notes


def finalize(model: nn.Module, ctx: Context) -> list[str]:
    """Convert the 2:4-masked weights to semi-structured sparse tensors."""
    from torch.sparse import to_sparse_semi_structured

    converted = 0
    for module in model.modules():
        if eligible(module) and module.weight.dtype in _HALF:
            sparse = to_sparse_semi_structured(module.weight.detach())
            module.weight = nn.Parameter(sparse, requires_grad=False)
            converted += 1
    logger.info("converted %d Linear weights to semi-structured 2:4", converted)
    return [f"{converted} weights stored as torch semi-structured sparse tensors"]
