"""Notebook 03: bulk offboarding in the browser, from an uploaded CSV to an undone run.

The two members offboarded (Tom Becker, Kai Tanaka) are touched by no other browser
test, and the run is undone at the end.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from .lab import assert_widgets_rendered, open_notebook, require_notebook, run_all_cells

pytestmark = pytest.mark.browser

NOTEBOOK = "03_bulk_offboarding.ipynb"
TOM = "tom.becker@harbourphysio.example"
KAI = "kai.tanaka@summitsports.example"
# as a spreadsheet exports it: mixed-case header and email, a blank line, stray spaces
LEAVERS_CSV = (
    "Email,Group,Reason\r\n"
    f"{TOM},Harbour Street Physiotherapy,moved away\r\n"
    f" {KAI.upper()} ,g-summit,contract ended\r\n"
    "\r\n"
    "fiona.walsh@harbourphysio.example,g-harbour,left\r\n"
    "eve.larsen@willowcreek.example,g-willow,left last month\r\n"
    "nobody@nowhere.example,,typo\r\n"
)
BLOCKED = {
    "full_access": "fiona.walsh@harbourphysio.example",
    "already_inactive": "eve.larsen@willowcreek.example",
    "not_found": "nobody@nowhere.example",
}


def statuses(engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT u.email, m.status FROM memberships m JOIN users u USING (user_id)"
                " WHERE (m.group_id, m.user_id) IN"
                " (VALUES ('g-harbour', 'u-tom'), ('g-summit', 'u-kai'))"
            )
        ).all()
    return dict(rows)


def test_a_csv_is_planned_applied_with_progress_and_undone(page, lab, shots, demo_engine, tmp_path):
    require_notebook(lab, NOTEBOOK)
    assert statuses(demo_engine) == {TOM: "active", KAI: "active"}
    panel = open_notebook(page, lab, NOTEBOOK)
    run_all_cells(page)
    assert_widgets_rendered(page)
    plan_button = page.get_by_role("button", name="Plan", exact=True)
    widget = panel.locator(".jupyter-widgets", has=plan_button).first
    shots("widget-rendered", widget)

    # upload: click the FileUpload button and answer the browser's file picker
    leavers = tmp_path / "leavers.csv"
    leavers.write_bytes(LEAVERS_CSV.encode("utf-8-sig"))
    widget.get_by_role("tab", name="Upload CSV").click()
    with page.expect_file_chooser() as chooser:
        widget.locator(".widget-upload").click()
    chooser.value.set_files(leavers)
    plan = widget.locator("table.opskit-plan")
    # this file's plan (not one the notebook may have made from its own example)
    plan.locator("tr", has_text=BLOCKED["not_found"]).wait_for()
    widget.get_by_text("leavers.csv").wait_for()

    # review: two rows to apply, each blocker on its row
    ready = plan.locator('tr[data-blocker=""]')
    assert ready.count() == 2
    for email in (TOM, KAI):
        assert ready.filter(has_text=email).count() == 1, f"{email} is planned"
    for blocker, email in BLOCKED.items():
        row = plan.locator(f'tr[data-blocker="{blocker}"]')
        assert row.count() == 1, f"one {blocker} row"
        assert email in row.inner_text().lower()
    assert "2 members in 2 groups (3 rows blocked)" in widget.inner_text()
    shots("plan-reviewed", plan)

    # apply behind the confirmation, and watch the progress bar finish
    widget.get_by_role("button", name="Apply…").click()
    confirm = widget.get_by_role("button", name="Confirm", exact=True)
    confirm.wait_for()
    assert "Deactivate 2 memberships" in widget.inner_text()
    shots("apply-confirmation", confirm)
    confirm.click()
    bar = widget.locator(".widget-hprogress .progress-bar")
    bar.wait_for()
    widget.get_by_text(" done: ").wait_for()
    page.wait_for_function("bar => bar.style.width === '100%'", arg=bar.element_handle())
    assert "progress-bar-success" in (bar.get_attribute("class") or ""), "tqdm's bar ends green"
    shots("applied", bar)
    results = widget.locator("table.opskit-run")
    assert results.locator('tr[data-result="deactivated"]').count() == 2
    assert statuses(demo_engine) == {TOM: "inactive", KAI: "inactive"}

    # undo the run, again behind a confirmation
    widget.get_by_role("button", name="Undo this run…").click()
    confirm.wait_for()
    assert "reactivate or lift read-only for 2 membership(s) in 2 group(s)" in widget.inner_text()
    shots("undo-confirmation", confirm)
    confirm.click()
    widget.get_by_text(" undone: ").wait_for()
    assert results.locator('tr[data-result="reactivated"]').count() == 2
    shots("undone", results)
    assert statuses(demo_engine) == {TOM: "active", KAI: "active"}
