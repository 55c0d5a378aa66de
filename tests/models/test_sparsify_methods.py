"""Sparsifiers: new model, exact sparsity, no hooks left, patterns kept by fine-tuning."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from profiler.errors import ConfigError, DeviceUnavailable
from profiler.models import METHODS, MLP, SmallCNN, accuracy, sparsify
from profiler.models.sparsify import greedy
from profiler.models.sparsify.semi_structured import two_four_mask


def _no_hooks_or_parametrizations(model: nn.Module) -> bool:
    for module in model.modules():
        hooks = (module._forward_hooks, module._forward_pre_hooks, module._backward_hooks)
        if any(hooks) or hasattr(module, "parametrizations"):
            return False
        if any(
            name.endswith("_orig") for name, _ in module.named_parameters(recurse=False)
        ):
            return False
    return True


def test_methods_listed() -> None:
    assert set(METHODS) == {
        "dense",
        "magnitude",
        "structured",
        "semi-structured",
        "l1",
        "greedy",
    }


def test_dense_is_a_copy(tiny_mlp: MLP) -> None:
    new, record = sparsify(tiny_mlp, "dense", 0.5)
    assert new is not tiny_mlp and record.target_sparsity == 0.0
    assert record.measured_sparsity == 0.0


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.8, 0.97])
def test_magnitude_reaches_target_and_leaves_input(
    tiny_cnn: SmallCNN, sparsity: float
) -> None:
    before = {k: v.clone() for k, v in tiny_cnn.state_dict().items()}
    new, record = sparsify(tiny_cnn, "magnitude", sparsity)
    assert abs(record.measured_sparsity - sparsity) < 0.005
    assert all(torch.equal(before[k], v) for k, v in tiny_cnn.state_dict().items())
    assert _no_hooks_or_parametrizations(new)
    assert set(record.per_layer) == {"features.0", "features.3", "classifier"}


def test_magnitude_is_global_not_per_layer(tiny_mlp: MLP) -> None:
    with torch.no_grad():
        tiny_mlp.layers[0].weight.abs_().add_(1.0)  # big weights must survive
    _, record = sparsify(tiny_mlp, "magnitude", 0.3)  # 917 of 3056; 1008 outside layer 0
    assert record.per_layer["layers.0"] == 0.0 and record.per_layer["layers.2"] > 0.5


@pytest.mark.parametrize("sparsity", [1.0, -0.1])
def test_bad_sparsity(tiny_mlp: MLP, sparsity: float) -> None:
    with pytest.raises(ConfigError, match="out of range"):
        sparsify(tiny_mlp, "magnitude", sparsity)


def test_unknown_method(tiny_mlp: MLP) -> None:
    with pytest.raises(ConfigError, match="unknown sparsity method"):
        sparsify(tiny_mlp, "random", 0.5)


def test_finetune_keeps_pattern_and_recovers(digits) -> None:
    torch.manual_seed(0)
    model = MLP(64, [32], 10)
    pruned, _ = sparsify(model, "magnitude", 0.8)
    tuned, record = sparsify(model, "magnitude", 0.8, data=digits, finetune_epochs=3)
    for name in ("layers.0", "layers.2"):
        was_zero = pruned.get_submodule(name).weight == 0
        assert torch.all(tuned.get_submodule(name).weight[was_zero] == 0)
    assert abs(record.measured_sparsity - 0.8) < 0.005 and record.finetune_epochs == 3
    x, y = digits.x_test, digits.y_test
    assert accuracy(tuned, x, y) > accuracy(pruned, x, y)


def test_finetune_needs_data(tiny_mlp: MLP) -> None:
    with pytest.raises(ConfigError, match="needs labelled training data"):
        sparsify(tiny_mlp, "magnitude", 0.5, finetune_epochs=1)


def test_semi_structured_unavailable_on_cpu(tiny_mlp: MLP) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    for device in ("cpu", "cuda"):
        with pytest.raises(DeviceUnavailable, match="needs a CUDA GPU; not supported"):
            sparsify(tiny_mlp, "semi-structured", 0.5, device=device)


def test_two_four_mask_keeps_two_largest_of_each_four() -> None:
    weight = torch.tensor([[0.1, -3.0, 2.0, 0.5, 4.0, 0.0, -0.2, 0.3]])
    mask = two_four_mask(weight)
    assert mask.tolist() == [[False, True, True, False, True, False, False, True]]
    big = two_four_mask(torch.randn(64, 128))
    assert torch.all(big.reshape(-1, 4).sum(1) == 2)


def test_cuda_without_gpu_is_device_unavailable(tiny_mlp: MLP) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(DeviceUnavailable, match="no CUDA GPU"):
        sparsify(tiny_mlp, "magnitude", 0.5, device="cuda")


def test_l1_needs_data_and_reaches_target(tiny_mlp: MLP, digits) -> None:
    with pytest.raises(ConfigError, match="'l1' needs labelled training data"):
        sparsify(tiny_mlp, "l1", 0.5)
    new, record = sparsify(tiny_mlp, "l1", 0.7, data=digits)
    assert abs(record.measured_sparsity - 0.7) < 0.005
    assert _no_hooks_or_parametrizations(new)


def test_greedy_reaches_target_exactly(tiny_mlp: MLP, digits) -> None:
    with pytest.raises(ConfigError, match="'greedy' needs labelled training data"):
        sparsify(tiny_mlp, "greedy", 0.5)
    _, record = sparsify(tiny_mlp, "greedy", 0.6, data=digits)
    assert abs(record.measured_sparsity - 0.6) < 0.005


def test_greedy_allocation_prefers_insensitive_layers() -> None:
    sizes = {"a": 100, "b": 100}
    flat = [0.0] * len(greedy.LEVELS)
    steep = [level for level in greedy.LEVELS]
    counts = greedy.allocate(sizes, {"a": steep, "b": flat}, 0.45)
    assert sum(counts.values()) == 90 and counts["b"] > counts["a"]
