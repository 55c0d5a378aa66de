"""The optional pyRAPL cross-check degrades to a warning and a note."""

from __future__ import annotations

import sys
import types

import pytest

from profiler.sensors.pyrapl import PyRaplCrossCheck


def test_not_installed_warns_and_notes(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyRAPL", None)  # makes `import pyRAPL` fail
    with pytest.warns(RuntimeWarning, match="not installed"):
        check = PyRaplCrossCheck()
    assert not check.available and "not installed" in check.notes[0]
    assert check.end(check.begin("w")) == {}


def test_setup_failure_warns(monkeypatch):
    fake = types.ModuleType("pyRAPL")

    class CantRecord(Exception):
        pass

    def setup():
        raise CantRecord()

    fake.setup = setup
    monkeypatch.setitem(sys.modules, "pyRAPL", fake)
    with pytest.warns(RuntimeWarning, match="CantRecord"):
        check = PyRaplCrossCheck()
    assert not check.available


def test_figures_recorded_per_socket(monkeypatch):
    fake = types.ModuleType("pyRAPL")
    fake.setup = lambda: None

    class Meter:
        def __init__(self, name):
            self.result = None

        def begin(self):
            pass

        def end(self):
            self.result = types.SimpleNamespace(pkg=[2_000_000, 3_000_000], dram=[500])

    fake.Measurement = Meter
    monkeypatch.setitem(sys.modules, "pyRAPL", fake)
    check = PyRaplCrossCheck()
    assert check.end(check.begin("w")) == {
        "pyrapl-package-0": 2.0,
        "pyrapl-package-1": 3.0,
        "pyrapl-dram-0": 0.0005,
    }
