"""Notebook 04: the inactive-user reports render as tables and charts in JupyterLab."""

from __future__ import annotations

import pytest

from .lab import open_notebook, require_notebook, run_all_cells, widget_failures

pytestmark = pytest.mark.browser

NOTEBOOK = "04_inactive_report.ipynb"


def test_the_inactive_report_notebook_renders_its_tables_and_charts(page, lab, shots):
    require_notebook(lab, NOTEBOOK)
    panel = open_notebook(page, lab, NOTEBOOK)
    shots("opened")
    run_all_cells(page)

    tables = panel.locator(".jp-OutputArea-output table")
    assert tables.count() >= 3, "the inactive, dormant and trends reports show as tables"
    shots("inactive-table", tables.first)

    charts = panel.locator(".jp-OutputArea-output img")
    charts.first.wait_for()
    sizes = charts.evaluate_all(
        "imgs => imgs.map(img => img.complete ? [img.naturalWidth, img.naturalHeight] : [0, 0])"
    )
    assert len(sizes) >= 3, f"three charts expected, found {len(sizes)}"
    assert all(width > 0 and height > 0 for width, height in sizes), sizes
    for index in range(len(sizes)):
        shots(f"chart-{index + 1}", charts.nth(index))
    assert widget_failures(page) == []
