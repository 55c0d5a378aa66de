"""Execution formats: csr matches dense; auto follows the measurement."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from profiler.errors import ConfigError
from profiler.models import FORMATS, MLP, SmallCNN, sparsify, to_format
from profiler.models import formats as formats_module
from profiler.models.formats import CSRLinear


@pytest.fixture
def sparse_mlp(tiny_mlp: MLP) -> MLP:
    return sparsify(tiny_mlp, "magnitude", 0.9)[0]


def test_formats_listed() -> None:
    assert FORMATS == ("dense", "csr", "auto")


def test_csr_matches_dense_under_no_grad(sparse_mlp: MLP) -> None:
    x = torch.rand(32, 64)
    csr, record = to_format(sparse_mlp, "csr", x)
    assert set(record.per_layer.values()) == {"csr"}
    assert all(isinstance(csr.get_submodule(n), CSRLinear) for n in record.per_layer)
    with torch.no_grad():
        assert torch.allclose(csr(x), sparse_mlp(x), atol=1e-5)
        assert torch.allclose(csr(x[:1]), sparse_mlp(x[:1]), atol=1e-5)


def test_csr_refuses_inference_mode_clearly(sparse_mlp: MLP) -> None:
    csr, _ = to_format(sparse_mlp, "csr", torch.rand(2, 64))
    with torch.inference_mode(), pytest.raises(ConfigError, match="no_grad"):
        csr(torch.rand(2, 64))


def test_csr_keeps_convs_dense(tiny_cnn: SmallCNN) -> None:
    x = torch.rand(4, 1, 8, 8)
    csr, record = to_format(tiny_cnn, "csr", x)
    assert list(record.per_layer) == ["classifier"]
    with torch.no_grad():
        assert torch.allclose(csr(x), tiny_cnn(x), atol=1e-5)


def test_dense_is_a_copy(sparse_mlp: MLP) -> None:
    new, record = to_format(sparse_mlp, "dense", torch.rand(2, 64))
    assert new is not sparse_mlp and set(record.per_layer.values()) == {"dense"}


def test_unknown_format(sparse_mlp: MLP) -> None:
    with pytest.raises(ConfigError, match="unknown format"):
        to_format(sparse_mlp, "bsr", torch.rand(2, 64))


@pytest.mark.parametrize("csr_faster", [True, False])
def test_auto_follows_measurement(
    sparse_mlp: MLP, monkeypatch: pytest.MonkeyPatch, csr_faster: bool
) -> None:
    def fake_time(layer, _x, *args, **kwargs) -> float:
        return (1.0 if isinstance(layer, CSRLinear) else 2.0) * (1 if csr_faster else -1)

    monkeypatch.setattr(formats_module, "time_layer_s", fake_time)
    new, record = to_format(sparse_mlp, "auto", torch.rand(8, 64))
    expected = "csr" if csr_faster else "dense"
    assert set(record.per_layer.values()) == {expected}
    assert set(record.timings_s) == set(record.per_layer)
    with torch.no_grad():
        x = torch.rand(8, 64)
        assert torch.allclose(new(x), sparse_mlp(x), atol=1e-5)


def test_auto_times_each_layer_on_its_own_input(sparse_mlp: MLP, monkeypatch) -> None:
    shapes = []

    def fake_time(layer, x, *args, **kwargs) -> float:
        shapes.append(tuple(x.shape))
        return 1.0

    monkeypatch.setattr(formats_module, "time_layer_s", fake_time)
    to_format(sparse_mlp, "auto", torch.rand(8, 64))
    assert sorted(set(shapes)) == [(8, 24), (8, 32), (8, 64)]


def test_time_layer_uses_injected_clock() -> None:
    ticks = iter(range(100))
    seconds = formats_module.time_layer_s(
        lambda x: x, torch.zeros(1), repeats=3, clock=lambda: float(next(ticks))
    )
    assert seconds == 1.0


def test_auto_times_a_layer_on_what_the_chosen_layer_before_it_hands_on(
    sparse_mlp: MLP, monkeypatch
) -> None:
    contiguous: dict[int, bool] = {}

    def fake_time(layer, x, *args, **kwargs) -> float:
        if isinstance(layer, nn.Linear):  # the dense candidate of one layer
            contiguous[layer.in_features] = x.is_contiguous()
        first = getattr(layer, "in_features", None) == 64
        return 1.0 if isinstance(layer, CSRLinear) == first else 2.0

    monkeypatch.setattr(formats_module, "time_layer_s", fake_time)
    _, record = to_format(sparse_mlp, "auto", torch.rand(8, 64))
    assert record.per_layer[next(iter(record.per_layer))] == "csr"
    assert contiguous[64] is True
    assert contiguous[32] is False  # the csr layer's transposed output, as it runs


def test_auto_keeps_a_pure_format_when_the_whole_model_says_so(
    sparse_mlp: MLP, monkeypatch
) -> None:
    def fake_time(layer, x, *args, **kwargs) -> float:
        if isinstance(layer, MLP):  # whole models: all-dense is fastest
            has_csr = any(isinstance(m, CSRLinear) for m in layer.modules())
            return 3.0 if has_csr else 1.0
        return 1.0 if isinstance(layer, CSRLinear) else 2.0  # per layer: csr wins

    monkeypatch.setattr(formats_module, "time_layer_s", fake_time)
    new, record = to_format(sparse_mlp, "auto", torch.rand(8, 64))
    assert set(record.per_layer.values()) == {"dense"}
    assert not any(isinstance(m, CSRLinear) for m in new.modules())
    assert record.whole_model_s["dense"] < record.whole_model_s["auto"]
