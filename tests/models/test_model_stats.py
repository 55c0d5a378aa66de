"""Model statistics on models whose numbers can be worked out by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from profiler.models import MLP, model_stats, sparsify, to_format


def _hand_model() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.copy_(
            torch.tensor([[1.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 0, 0]])
        )
        model[0].bias.copy_(torch.tensor([0.0, 0.0, -1.0]))
        model[2].weight.fill_(1.0)
        model[2].bias.zero_()
    return model


def test_counts_by_hand() -> None:
    stats = model_stats(_hand_model(), torch.ones(5, 4))
    assert stats.params == 12 + 3 + 6 + 2 and stats.weights == 18
    assert stats.nonzero_weights == 2 + 6 and stats.nonzero_params == 8 + 1
    assert stats.weight_sparsity == pytest.approx(10 / 18)
    assert stats.per_layer_sparsity == {"0": pytest.approx(10 / 12), "2": 0.0}
    assert stats.flops_dense == 2 * 12 + 2 * 6
    assert stats.flops_effective == 2 * 2 + 2 * 6
    assert stats.dense_bytes == stats.format_bytes == 23 * 4
    assert stats.activation_sparsity == pytest.approx(1 / 3)  # third unit: relu(-1)


def test_hooks_removed_afterwards() -> None:
    model = _hand_model()
    model_stats(model, torch.ones(2, 4))
    assert not any(m._forward_hooks for m in model.modules())


def test_csr_bytes_and_dense_reference(tiny_mlp: MLP) -> None:
    x = torch.rand(4, 64)
    dense = model_stats(tiny_mlp, x)
    sparse, _ = sparsify(tiny_mlp, "magnitude", 0.9)
    csr, _ = to_format(sparse, "csr", x)
    stats = model_stats(csr, x, dense_weights=dense.weights)
    assert stats.weight_sparsity == pytest.approx(0.9, abs=0.005)
    assert stats.dense_bytes == dense.dense_bytes
    nnz = stats.nonzero_weights
    rows = 32 + 24 + 10
    biases = (32 + 24 + 10) * 4
    assert stats.format_bytes == nnz * (4 + 8) + (rows + 3) * 8 + biases
    assert stats.flops_effective == pytest.approx(2 * nnz, rel=1e-6)
    assert stats.params == dense.params


def test_structured_relative_to_dense(tiny_mlp: MLP) -> None:
    x = torch.rand(4, 64)
    dense = model_stats(tiny_mlp, x)
    shrunk, record = sparsify(tiny_mlp, "structured", 0.5)
    stats = model_stats(shrunk, x, dense_weights=dense.weights)
    assert stats.weight_sparsity == pytest.approx(record.measured_sparsity)
    assert stats.params < dense.params and stats.flops_dense < dense.flops_dense


def test_program_without_modules_warns(tiny_mlp: MLP) -> None:
    program = torch.export.export(tiny_mlp, (torch.zeros(2, 64),)).module()
    with pytest.warns(UserWarning, match="no Linear/Conv modules"):
        stats = model_stats(program, torch.zeros(2, 64))
    assert stats.flops_dense is None and stats.flops_effective is None
    assert stats.params == sum(p.numel() for p in tiny_mlp.parameters())
    assert stats.weight_sparsity == pytest.approx(0.0)  # random init: no exact zeros
