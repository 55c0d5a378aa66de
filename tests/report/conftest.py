"""Fixtures for the report tests: results frames built by hand with known numbers."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from report_frames import build_frame


@pytest.fixture
def make_frame() -> Callable[..., pd.DataFrame]:
    """Build a results frame: the dense row plus variants given as override dicts."""
    return build_frame
