"""Fixtures for the models tests: tiny models and checkpoints written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from profiler.models import MLP, SmallCNN, load_data, save_checkpoint

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO / "models"
TINY_MLP_ARCH = {
    "class": "MLP",
    "kwargs": {"in_features": 64, "hidden": [32, 24], "out_features": 10},
}
TINY_CNN_ARCH = {
    "class": "SmallCNN",
    "kwargs": {"in_channels": 1, "image_size": 8, "channels": [6, 8], "num_classes": 10},
}


@pytest.fixture
def tiny_mlp() -> MLP:
    """A small random MLP for digits."""
    torch.manual_seed(0)
    return MLP(**TINY_MLP_ARCH["kwargs"]).eval()


@pytest.fixture
def tiny_cnn() -> SmallCNN:
    """A small random CNN for 1x8x8 digits."""
    torch.manual_seed(0)
    return SmallCNN(**TINY_CNN_ARCH["kwargs"]).eval()


@pytest.fixture(scope="session")
def digits():
    """The built-in digits data, flat."""
    return load_data("digits")


@pytest.fixture
def tiny_checkpoint(tmp_path: Path, tiny_mlp: MLP) -> Path:
    """The tiny MLP saved in the project's format."""
    return save_checkpoint(
        tiny_mlp,
        TINY_MLP_ARCH,
        tmp_path / "tiny.pt",
        input_shape=[64],
        meta={"name": "tiny"},
    )


@pytest.fixture
def tiny_arch() -> dict:
    """The architecture description of ``tiny_mlp``."""
    return {"class": "MLP", "kwargs": dict(TINY_MLP_ARCH["kwargs"])}
