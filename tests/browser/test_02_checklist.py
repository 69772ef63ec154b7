"""Notebook 02: resolve a checklist item in the browser and see its state turn ok."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from .lab import (
    assert_widgets_rendered,
    choose_options,
    open_notebook,
    require_notebook,
    run_all_cells,
)

pytestmark = pytest.mark.browser

NOTEBOOK = "02_checklist.ipynb"
GROUP = "Harbour Street Physiotherapy"
# inactive, yet still bookable online: the checklist says action_needed
IVAN = "ivan.petrov@harbourphysio.example"


def test_resolving_online_booking_turns_the_item_ok(page, lab, shots, demo_engine):
    require_notebook(lab, NOTEBOOK)
    panel = open_notebook(page, lab, NOTEBOOK)
    run_all_cells(page)
    assert_widgets_rendered(page)

    widget = panel.locator(
        ".jupyter-widgets", has=page.get_by_role("button", name="Resolve all for the selection")
    ).last
    group = widget.locator(".widget-dropdown", has_text="Group").locator("select")
    choose_options(group, GROUP)
    cell = widget.locator(f'td[data-email="{IVAN}"][data-item="online_booking"]')
    assert cell.get_attribute("data-state") == "action_needed"
    shots("checklist-rendered", cell)

    choose_options(widget.locator(".widget-select-multiple select"), IVAN)
    widget.get_by_role("button", name="Resolve online booking").click()
    confirm = widget.get_by_role("button", name="Confirm", exact=True)
    confirm.wait_for()
    shots("confirmation", confirm)
    confirm.click()

    widget.get_by_text("resolved 1 item(s)").wait_for()
    resolved = widget.locator(
        f'td[data-email="{IVAN}"][data-item="online_booking"][data-state="ok"]'
    )
    resolved.wait_for()
    shots("resolved", resolved)

    with demo_engine.connect() as conn:
        bookable = conn.execute(
            sa.text(
                "SELECT count(*) FROM booking_profiles WHERE user_id = 'u-ivan'"
                " AND online_bookings = 'enabled'"
            )
        ).scalar_one()
    assert bookable == 0
