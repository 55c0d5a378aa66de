"""The page: escaping, no external loads, numbers as in the frame, banner, comparison."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from report_frames import energy, latency

from profiler.errors import ConfigError, DataError
from profiler.report import html, plots
from profiler.report.html import RunData, render_page, render_report

EVIL = "<script>alert(1)</script>"


class _Cells(HTMLParser):
    """Collects tags and attributes, and the data-value of the results table's cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "td" and "data-col" in attributes:
            self.cells.setdefault(attributes["data-col"], []).append(
                attributes["data-value"]
            )


def _parse(page: str) -> _Cells:
    parser = _Cells()
    parser.feed(page)
    return parser


def _timeline() -> pd.DataFrame:
    rows = [
        {"config_key": key, "window": w, "time_s": 0.1 * t, "domain": "cpu",
         "power_w": 30.0 + t % 3, "source": "estimate"}
        for key in ("a", "b") for w in range(2) for t in range(10)
    ]  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture
def frame(make_frame) -> pd.DataFrame:
    return make_frame(
        {"target_sparsity": 0.5, "format": "dense", **energy(1.0e-3, 0.05e-3)},
        {"target_sparsity": 0.5, "format": "csr", **energy(1.5e-3, 0.1e-3),
         "format_bytes": 60000},
        {"target_sparsity": 0.9, "format": "csr", **energy(0.5e-3, 0.05e-3),
         **latency(1.0, 0.1), "accuracy": 0.965, "format_bytes": 8000},
        {"method": "structured", "target_sparsity": 0.9, "format": "dense",
         "params": 1000, **energy(0.2e-3, 0.02e-3), "accuracy": 0.5,
         "energy_by_domain": json.dumps({"package-0": 1.5e-4, "dram-0": 0.5e-4,
                                         "core-0": 1e-4})},
    )  # fmt: skip


def _page(frame, **kwargs) -> str:
    run = RunData(Path("/runs/a/runs.sqlite"), frame, _timeline(), kwargs.pop("meta", {}))
    return render_page([run], **kwargs)


def test_model_names_are_escaped_everywhere(frame):
    page = _page(frame.assign(model=EVIL), meta={"hardware": {"cpu_model": EVIL}})
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()


def test_svg_text_is_escaped(frame):
    svg = "".join(plots.energy_vs_sparsity(frame.assign(method=EVIL)))
    assert EVIL not in svg and "&lt;script&gt;" in svg


def test_page_loads_nothing(frame):
    page = _page(frame)
    parsed = _parse(page)
    for tag, attributes in parsed.tags:
        for name in ("src", "href", "srcset", "poster", "data", "action"):
            value = attributes.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value)
            if tag != "a":
                assert name not in attributes or tag == "svg", (tag, name)
        assert tag not in ("script", "iframe", "link", "img", "object", "embed")
    assert "@import" not in page and "url(" not in page
    policy = next(a for t, a in parsed.tags if a.get("http-equiv"))
    assert "default-src 'none'" in policy["content"]


def test_numbers_in_the_table_equal_the_frame(frame):
    cells = _parse(_page(frame)).cells
    assert list(cells) == list(frame.columns)
    for column in ("energy_per_inference_j", "energy_per_inference_ci_low_j",
                   "latency_ms", "accuracy", "format_bytes"):  # fmt: skip
        shown = [float(v) for v in cells[column]]
        assert shown == pytest.approx(frame[column].astype(float).tolist(), rel=0, abs=0)


def test_claim_evidence_in_the_page_is_the_claims(frame):
    from profiler.report.claims import all_claims

    page = _page(frame)
    for claim in all_claims(frame):
        section = page.split(f'id="claim-{claim.id}"', 1)[1].split("</section>", 1)[0]
        assert f'data-verdict="{claim.verdict}"' in section
        for item in claim.evidence:
            if item.value == item.value:
                assert f'data-value="{item.value!r}"' in section


def test_all_sections_are_present(frame):
    page = _page(frame)
    for anchor in ("summary", "claims", "plots", "results", "methodology"):
        assert f'id="{anchor}"' in page
    for claim_id in range(1, 7):
        assert f'id="claim-{claim_id}"' in page
    assert page.count("<svg") >= 5
    assert "Rule." in page


def test_estimate_banner_only_for_estimates(frame):
    assert 'id="estimate-banner"' in _page(frame)
    measured = frame.assign(source="rapl")
    run = RunData(Path("x"), measured, _timeline().assign(source="rapl"), {})
    assert 'id="estimate-banner"' not in render_page([run])
    mixed = measured.copy()
    mixed.loc[2, "source"] = "estimate+nvml"
    assert 'id="estimate-banner"' in render_page([RunData(Path("x"), mixed)])


def test_metadata_is_shown(frame):
    meta = {"hardware": {"cpu_model": "AMD EPYC", "gpus": []},
            "settings": {"repeats": 5}, "run_id": 3}  # fmt: skip
    page = _page(frame, meta=meta)
    assert "AMD EPYC" in page and "repeats" in page
    assert "CPU time multiplied" in page  # the estimate's caveat


def test_comparison_gives_second_over_first(frame):
    second = frame.assign(
        energy_per_inference_j=frame["energy_per_inference_j"] * 2,
        energy_per_inference_ci_low_j=frame["energy_per_inference_ci_low_j"] * 2,
        energy_per_inference_ci_high_j=frame["energy_per_inference_ci_high_j"] * 2,
    ).iloc[:-1]
    table = html.compare(frame, second)
    assert len(table) == len(frame) - 1
    assert table["energy_ratio"].tolist() == pytest.approx([2.0] * len(table))
    dense = table.iloc[0]
    assert dense["energy_ratio_low"] == pytest.approx(1.9 / 1.05)
    runs = [
        RunData(Path("/a/runs.sqlite"), frame),
        RunData(Path("/b/runs.sqlite"), second),
    ]
    page = render_page(runs)
    assert 'id="comparison"' in page
    assert "1 without a match" in page
    assert page.count('data-value="2.0"') >= len(table)


def test_empty_run_renders(make_frame):
    page = render_page([RunData(Path("x"), make_frame().iloc[0:0])])
    assert "No configuration completed" in page


def test_render_report_errors(tmp_path):
    with pytest.raises(ConfigError):
        render_report([], tmp_path / "r.html")
    with pytest.raises(DataError, match="no results database"):
        render_report([tmp_path / "missing"], tmp_path / "r.html")
    with pytest.raises(ConfigError, match="tolerance"):
        render_report([tmp_path], tmp_path / "r.html", accuracy_tolerance=2)


def _section(page: str, start: str, end: str) -> str:
    return page.split(start, 1)[1].split(end, 1)[0]


def test_estimates_are_marked_at_the_summary_and_energy_claims(frame):
    page = _page(frame)  # the frame's source is "estimate"
    summary = _section(page, 'id="summary-text"', "</p>")
    assert 'data-estimate="summary"' in summary and ">estimate</span>" in summary
    assert "not measurements" in summary
    for claim_id in (1, 5, 6, 7):
        section = _section(page, f'id="claim-{claim_id}"', "</section>")
        heading = section.split("</h3>", 1)[0]
        assert f'data-estimate="claim-{claim_id}"' in heading, claim_id
        rows = section.split("<table", 1)[1] if "<table" in section else ""
        for cell in re.findall(r'<td class="num" data-value="[^"]+">(.*?)</td>', rows):
            assert "estimate" in cell, (claim_id, cell)
    for claim_id in (2, 3, 4):  # latency, storage, accuracy: not energy
        section = _section(page, f'id="claim-{claim_id}"', "</section>")
        assert "data-estimate" not in section, claim_id


def test_measured_figures_carry_no_estimate_marker(frame):
    run = RunData(
        Path("x"), frame.assign(source="rapl"), _timeline().assign(source="rapl")
    )
    page = render_page([run])
    assert "data-estimate" not in page and 'class="estimate-mark"' not in page


def test_one_repeat_without_ci_renders(frame):
    gaps = frame.astype(object)
    for column in ("energy_per_inference_ci_low_j", "energy_per_inference_ci_high_j",
                   "latency_ci_low_ms", "latency_ci_high_ms"):  # fmt: skip
        if column in gaps:
            gaps[column] = None
    page = render_page([RunData(Path("x"), gaps)])
    assert 'id="claim-7"' in page
