"""Open the report in headless Chromium: it renders, requests nothing, logs no error.

Skipped only when Debian's `chromium` is not installed (CI installs it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from report_browser import visit
from report_frames import energy

from profiler.report.html import RunData, render_page

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="Debian's chromium is not installed"
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_renders_offline_without_requests_or_errors(make_frame, tmp_path):
    frame = make_frame(
        {"format": "csr", "target_sparsity": 0.9, **energy(0.5e-3, 0.05e-3)},
        {"format": "dense", "target_sparsity": 0.9, "model": "<script>alert(1)</script>"},
    )
    page = tmp_path / "report.html"
    page.write_text(render_page([RunData(Path("runs.sqlite"), frame)]), encoding="utf-8")
    result = visit(page, tmp_path / "profile")
    assert result.requests == []
    assert result.console_errors == []
    assert result.screenshot_png.startswith(PNG_MAGIC)
    assert len(result.screenshot_png) > 20_000
    assert result.height_px > 2000  # every section laid out, not a blank page
    (tmp_path / "report.png").write_bytes(result.screenshot_png)


def test_the_checks_see_requests_and_errors(tmp_path):
    """Negative control: a page that loads from loopback and logs an error is caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><body><img src="http://127.0.0.1:9/x.png">'
        '<script>console.error("boom")</script></body></html>',
        encoding="utf-8",
    )
    result = visit(page, tmp_path / "profile")
    assert any(url.startswith("http://127.0.0.1:9/") for url in result.requests)
    assert any("boom" in text for text in result.console_errors)
