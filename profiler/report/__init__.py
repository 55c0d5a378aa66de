"""The report: claims tested against the results, inline SVG plots, one HTML page.

Reads results databases through `profiler.tables` and `profiler.store`; never touches
sensors or the harness.
"""

from __future__ import annotations

from profiler.report.claims import Claim, Evidence, Summary, all_claims, summarize
from profiler.report.html import RunData, load_run, render_page, render_report

__all__ = [
    "Claim",
    "Evidence",
    "RunData",
    "Summary",
    "all_claims",
    "load_run",
    "render_page",
    "render_report",
    "summarize",
]
