"""Structured pruning: layers really shrink and compute what the masked model does."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from profiler.errors import ConfigError
from profiler.models import MLP, SmallCNN, sparsify
from profiler.models.sparsify import structured
from profiler.models.sparsify.common import nonzero_weights, total_weights


def _check_equivalent(
    model: nn.Module, x: torch.Tensor, sparsity: float, impl: str
) -> None:
    chosen = structured.plan(model, sparsity, x[:2])
    masked = structured.masked_equivalent(model, chosen)
    shrunk = copy.deepcopy(model)
    if impl == "own":
        structured._apply_slicing(shrunk, chosen)
    else:
        structured._apply_torch_pruning(shrunk, chosen, x[:2])
    with torch.no_grad():
        assert torch.allclose(shrunk(x), masked(x), atol=1e-5)
    removed = 1 - total_weights(shrunk) / total_weights(model)
    assert abs(removed - chosen.weight_sparsity) < 1e-9
    assert abs(1 - nonzero_weights(masked) / total_weights(model) - removed) < 0.01


@pytest.mark.parametrize("impl", ["torch-pruning", "own"])
@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_mlp_shrunk_equals_masked(tiny_mlp: MLP, impl: str, sparsity: float) -> None:
    _check_equivalent(tiny_mlp, torch.rand(16, 64), sparsity, impl)


@pytest.mark.parametrize("impl", ["torch-pruning", "own"])
def test_cnn_shrunk_equals_masked(tiny_cnn: SmallCNN, impl: str) -> None:
    _check_equivalent(tiny_cnn, torch.rand(16, 1, 8, 8), 0.6, impl)


def test_sparsify_structured_really_shrinks(tiny_cnn: SmallCNN) -> None:
    new, record = sparsify(tiny_cnn, "structured", 0.5)
    assert new.features[0].out_channels < tiny_cnn.features[0].out_channels
    assert new.classifier.out_features == 10
    assert abs(record.measured_sparsity - 0.5) < 0.1
    assert new(torch.rand(3, 1, 8, 8)).shape == (3, 10)
    assert tiny_cnn.features[0].out_channels == 6  # input untouched


def test_structured_refuses_non_chain() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(8, 4), nn.Linear(8, 4)
            self.input_shape = (8,)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.a(x) + self.b(x)

    with pytest.raises(ConfigError, match="chains of Linear/Conv"):
        sparsify(Branchy(), "structured", 0.5)
