"""Models: load checkpoints safely, make sparse variants, measure them and their accuracy.

Knows torch, not sensors. Heavy work happens only when a function is called.
"""

from __future__ import annotations

from profiler.models.data import Dataset, accuracy, agreement, check_input, load_data
from profiler.models.formats import FORMATS, FormatRecord, to_format
from profiler.models.load import LoadedModel, load_checkpoint, save_checkpoint
from profiler.models.sparsify import METHODS, SparsifyRecord, sparsify
from profiler.models.stats import ModelStats, model_stats
from profiler.models.zoo import MLP, SmallCNN, build

__all__ = [
    "FORMATS",
    "METHODS",
    "MLP",
    "Dataset",
    "FormatRecord",
    "LoadedModel",
    "ModelStats",
    "SmallCNN",
    "SparsifyRecord",
    "accuracy",
    "agreement",
    "build",
    "check_input",
    "load_checkpoint",
    "load_data",
    "model_stats",
    "save_checkpoint",
    "sparsify",
    "to_format",
]
