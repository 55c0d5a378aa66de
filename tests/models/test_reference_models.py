"""The reference checkpoints, and issue 3's acceptance checks on digits-mlp-wide."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from profiler.models import accuracy, load_checkpoint, load_data, sparsify, to_format
from profiler.models.sparsify import structured
from profiler.models.sparsify.common import total_weights

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def wide():
    return load_checkpoint(MODELS / "digits-mlp-wide.pt")


@pytest.mark.parametrize(
    "name, shape",
    [("digits-mlp", (64,)), ("digits-mlp-wide", (64,)), ("digits-cnn", (1, 8, 8))],
)
def test_reference_accuracy_matches_meta(name: str, shape: tuple[int, ...]) -> None:
    path = MODELS / f"{name}.pt"
    loaded = load_checkpoint(path)
    assert loaded.input_shape == shape
    meta = torch.load(path, weights_only=True)["meta"]
    data = load_data("digits", input_shape=shape)
    measured = accuracy(loaded.module, data.x_test, data.y_test)
    assert measured == pytest.approx(meta["test_accuracy"], abs=1e-3)
    assert measured > 0.95


def test_wide_architecture(wide) -> None:
    assert wide.arch["kwargs"]["hidden"] == [2048, 2048]
    assert (MODELS / "digits-mlp-wide.pt").stat().st_size < 20e6


@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.95])
def test_wide_magnitude_reaches_target(wide, sparsity: float) -> None:
    _, record = sparsify(wide.module, "magnitude", sparsity)
    assert abs(record.measured_sparsity - sparsity) <= 0.005


def test_wide_structured_equals_masked_and_csr_matches_dense(wide) -> None:
    x = load_data("digits").x_test[:64]
    chosen = structured.plan(wide.module, 0.9, x[:2])
    masked = structured.masked_equivalent(wide.module, chosen)
    shrunk = copy.deepcopy(wide.module)
    structured.apply(shrunk, chosen, x[:2])
    assert shrunk.layers[0].out_features < 2048 and shrunk.layers[2].out_features < 2048
    assert abs(1 - total_weights(shrunk) / total_weights(wide.module) - 0.9) < 0.005
    csr, _ = to_format(masked, "csr", x)
    with torch.no_grad():
        assert torch.allclose(shrunk(x), masked(x), atol=1e-4)
        assert torch.allclose(csr(x), masked(x), atol=1e-4)
