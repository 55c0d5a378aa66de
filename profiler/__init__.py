"""Energy profiling for ML inference: does sparsity really save energy?

Importing this package only imports: no sensor is opened, no GPU library is loaded.
"""

from __future__ import annotations

from profiler.errors import (
    CheckpointError,
    CheckpointRefused,
    ConfigError,
    DataError,
    DeviceUnavailable,
    ProfilerError,
    SensorPermissionError,
    SensorUnavailable,
)
from profiler.measure import Measurement, Profiler

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "CheckpointRefused",
    "ConfigError",
    "DataError",
    "DeviceUnavailable",
    "Measurement",
    "Profiler",
    "ProfilerError",
    "SensorPermissionError",
    "SensorUnavailable",
    "__version__",
]
