"""The model zoo builds only its own classes."""

from __future__ import annotations

import pytest
import torch

from profiler.errors import CheckpointError
from profiler.models import MLP, SmallCNN, build


def test_build_mlp_and_cnn_shapes() -> None:
    mlp = build(
        {"class": "MLP", "kwargs": {"in_features": 64, "hidden": [8], "out_features": 10}}
    )
    cnn = build(
        {
            "class": "SmallCNN",
            "kwargs": {
                "in_channels": 1,
                "image_size": 8,
                "channels": [4, 4],
                "num_classes": 10,
            },
        }
    )
    assert isinstance(mlp, MLP) and isinstance(cnn, SmallCNN)
    assert mlp(torch.zeros(3, 64)).shape == (3, 10)
    assert cnn(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert cnn.input_shape == (1, 8, 8)


@pytest.mark.parametrize(
    "arch, words",
    [
        ({"class": "os.system", "kwargs": {}}, "not in the model zoo"),
        ({"class": "MLP", "kwargs": {"width": 3}}, "cannot build MLP"),
        ({"kwargs": {}}, "'class'"),
    ],
)
def test_build_rejects_bad_arch(arch: dict, words: str) -> None:
    with pytest.raises(CheckpointError, match=words):
        build(arch)
