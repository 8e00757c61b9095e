"""Every benchmark figure of the documentation is generated from the saved results.

``benchmarks/report.py`` writes docs/benchmarks.md, the README's performance section and the
marked sections of the other pages (``benchmarks/summary.py``) from
``benchmarks/results/latest.json``; these tests fail when a page says something else, such as a
figure copied by hand from an older run. Re-render with ``python -m benchmarks.report`` (in
``benchmarks/.venvs/ours``, which has matplotlib for the chart).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import report, summary

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    saved: dict[str, Any] = json.loads((ROOT / "benchmarks/results/latest.json").read_text())
    return saved


@pytest.mark.parametrize(
    ("page", "name"),
    [(page, name) for page, names in summary.SECTIONS.items() for name in names],
)
def test_each_pages_figures_are_the_saved_results(
    results: dict[str, Any], page: str, name: str
) -> None:
    shown = summary.sections((DOCS / page).read_text())
    assert name in shown, f"docs/{page} lost its {summary.start(name)} marker"
    assert shown[name] == summary.SECTIONS[page][name](results), (
        f"docs/{page}'s {name} figures differ from benchmarks/results/latest.json: "
        "run python -m benchmarks.report"
    )


def test_the_benchmark_tables_and_the_readme_are_the_saved_results(
    results: dict[str, Any],
) -> None:
    assert (DOCS / "benchmarks.md").read_text() == report.render_markdown(results)
    readme = (ROOT / "README.md").read_text()
    assert report.readme_section(results) in readme
