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


def test_the_tables_are_bounded_and_the_users_parameters_are_what_runs(page, lab, shots):
    """Issue 21: a table shows ``rows_shown`` rows and says how many there are (every row
    in its CSV); a value the user types in the parameters cell is the one that runs,
    nothing later sets it again."""
    require_notebook(lab, NOTEBOOK)
    panel = open_notebook(page, lab, NOTEBOOK)
    parameters = panel.locator(".jp-CodeCell").nth(0)
    line = parameters.locator(".cm-line", has_text="rows_shown = ")
    line.click()
    page.keyboard.press("End")
    page.keyboard.press("Shift+Home")
    page.keyboard.type("rows_shown = 1  # set by the user")
    run_all_cells(page)
    notes = panel.locator(".jp-OutputArea-output", has_text="rows shown; every row:")
    texts = [" ".join(text.split()) for text in notes.all_inner_texts()]
    shots("bounded-tables", notes.first)
    assert any(text.startswith("1 of 3 rows shown") for text in texts), texts
    inactive = panel.locator(".jp-OutputArea-output table").first
    assert inactive.locator("tbody tr").count() == 1
    dormant_line = panel.locator(".jp-OutputArea-output", has_text="dormant members (").first
    assert "each group's policy" in dormant_line.inner_text()
