"""The exceptions the profiler raises on purpose.

Every message is one line that says what failed, on which input, and how to fix it.

    ProfilerError
    ├── SensorUnavailable        a sensor asked for cannot be used on this machine
    │   └── SensorPermissionError    it exists but cannot be read (e.g. RAPL is root-only)
    ├── CheckpointError          a checkpoint is missing, truncated or not a checkpoint
    │   └── CheckpointRefused        loading it would unpickle arbitrary code
    ├── DataError                a data file is unusable, or does not fit the model
    ├── DeviceUnavailable        a device (cuda, cuda:N) or a kernel is not available here
    └── ConfigError              an option has a value that makes no sense

    MeasurementWarning           (a warning) something weakened a measurement
"""

from __future__ import annotations

__all__ = [
    "ProfilerError",
    "SensorUnavailable",
    "SensorPermissionError",
    "CheckpointError",
    "CheckpointRefused",
    "DataError",
    "DeviceUnavailable",
    "ConfigError",
    "MeasurementWarning",
]


class ProfilerError(Exception):
    """Base of every error the profiler raises for a user's input or machine."""


class SensorUnavailable(ProfilerError):
    """A sensor the user asked for cannot be used on this machine."""


class SensorPermissionError(SensorUnavailable):
    """A sensor exists but its files or library calls are not permitted."""


class CheckpointError(ProfilerError):
    """A checkpoint file is missing, truncated, or not a checkpoint."""


class CheckpointRefused(CheckpointError):
    """Loading the checkpoint would unpickle arbitrary objects; the user must opt in."""


class DataError(ProfilerError):
    """A data file cannot be used, or its shape does not match the model."""


class DeviceUnavailable(ProfilerError):
    """The requested device or kernel is not available on this machine."""


class ConfigError(ProfilerError):
    """An option value is out of range or unknown."""


class MeasurementWarning(RuntimeWarning):
    """Something weakened a measurement: an estimate, a lost wrap, a short window."""
