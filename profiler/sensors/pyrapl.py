"""pyRAPL as an optional cross-check beside a window (never the primary reader).

pyRAPL ignores counter wraparound and knows only Intel package and dram names, so its
figure is only recorded next to ours. It is imported when a cross-check starts; when it
is not installed or `pyRAPL.setup()` fails, a warning is raised and a note kept.
"""

from __future__ import annotations

import logging
import warnings

from profiler.errors import MeasurementWarning

logger = logging.getLogger(__name__)

INSTALL_FIX = "pip install 'energy-profiler[pyrapl]'"


class PyRaplCrossCheck:
    """Set up pyRAPL once; measure one window at a time with `begin`/`end`."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self._module = None
        try:
            import pyRAPL
        except ImportError:
            self._fail(f"pyRAPL cross-check unavailable: not installed ({INSTALL_FIX})")
            return
        try:
            pyRAPL.setup()
        except Exception as exc:  # pyRAPL raises its own classes, often with no text
            detail = f"{type(exc).__name__}: {exc!s}".rstrip(": ")
            self._fail(f"pyRAPL cross-check unavailable: setup failed ({detail})")
            return
        self._module = pyRAPL

    def _fail(self, text: str) -> None:
        self.notes.append(text)
        logger.warning("%s", text)
        warnings.warn(text, MeasurementWarning, stacklevel=3)

    @property
    def available(self) -> bool:
        """True when pyRAPL is set up and can measure."""
        return self._module is not None

    def begin(self, name: str):
        """Start a pyRAPL measurement; returns a token for `end`, None if unavailable."""
        if self._module is None:
            return None
        try:
            meter = self._module.Measurement(name)
            meter.begin()
        except Exception as exc:
            self.notes.append(f"pyRAPL cross-check failed to begin: {exc!r}")
            return None
        return meter

    def end(self, meter) -> dict[str, float]:
        """Stop a measurement; joules per pyRAPL domain ("pyrapl-package-0", ...)."""
        if meter is None:
            return {}
        try:
            meter.end()
            result = meter.result
        except Exception as exc:
            self.notes.append(f"pyRAPL cross-check failed to end: {exc!r}")
            return {}
        out: dict[str, float] = {}
        for kind in ("pkg", "dram"):
            for socket, value_uj in enumerate(getattr(result, kind, None) or []):
                label = "package" if kind == "pkg" else "dram"
                out[f"pyrapl-{label}-{socket}"] = float(value_uj) / 1e6
        return out
