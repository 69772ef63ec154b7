"""Notebook 02: resolve a checklist item in the browser and see its state turn ok; choose
a hand-off for a leaver, see the proposed moves, confirm, and find them applied.

The leaver (Ava Singh, Summit) is touched by no other browser test, nor by notebook 03's
example plan; her one future appointment goes to Sam Patel."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

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


SUMMIT = "Summit Sports Medicine"
AVA = "ava.singh@summitsports.example"  # practitioner, one future appointment
SAM = "sam.patel@summitsports.example"  # practitioner with Full Access: a successor


def test_a_hand_off_is_chosen_previewed_and_applied(page, lab, shots, demo_engine):
    require_notebook(lab, NOTEBOOK)
    panel = open_notebook(page, lab, NOTEBOOK)
    run_all_cells(page)
    assert_widgets_rendered(page)

    widget = panel.locator(
        ".jupyter-widgets", has=page.get_by_role("button", name="Resolve all for the selection")
    ).last
    choose_options(widget.locator(".widget-dropdown", has_text="Group").locator("select"), SUMMIT)
    members = widget.locator(".widget-select-multiple select")
    members.locator("option", has_text=AVA).wait_for(state="attached")  # the group's members
    choose_options(members, AVA)
    handoff = widget.locator(".widget-dropdown", has_text="Hand-off").locator("select")
    # Summit's successors, without the leaver once she is selected
    expect(handoff.locator("option", has_text=AVA)).to_have_count(0)
    handoff.locator("option", has_text=SAM).wait_for(state="attached")
    choose_options(handoff, SAM)
    widget.get_by_role("button", name="Deactivate with hand-off").click()
    move = widget.locator('li[data-appointment="a-summit-006"]')
    move.wait_for()
    assert f"to {SAM}" in move.inner_text()
    shots("hand-off-proposed", move)
    with demo_engine.connect() as conn:  # nothing yet: the moves are a proposal
        owner = conn.execute(
            sa.text(
                "SELECT practitioner_id FROM appointments WHERE appointment_id = 'a-summit-006'"
            )
        ).scalar_one()
    assert owner == "u-ava"

    widget.get_by_role("button", name="Confirm", exact=True).click()
    done = widget.get_by_text(f"deactivated {AVA}; 1 appointment(s) reassigned, 0 cancelled")
    done.wait_for()
    shots("hand-off-applied", done)
    with demo_engine.connect() as conn:
        owner = conn.execute(
            sa.text(
                "SELECT practitioner_id FROM appointments WHERE appointment_id = 'a-summit-006'"
            )
        ).scalar_one()
        status = conn.execute(
            sa.text(
                "SELECT status FROM memberships WHERE group_id = 'g-summit' AND user_id = 'u-ava'"
            )
        ).scalar_one()
        events = (
            conn.execute(
                sa.text("SELECT action FROM audit_events WHERE user_id = 'u-ava' ORDER BY event_id")
            )
            .scalars()
            .all()
        )
    assert (owner, status) == ("u-sam", "inactive")
    assert events == ["deactivated", "appointment_reassigned"]


def test_no_button_of_the_checklist_widget_is_cut_at_1440_px(page, lab, shots):
    """Issue 21: at 1440 px the buttons read "Resolve online bo..."."""
    require_notebook(lab, NOTEBOOK)
    page.set_viewport_size({"width": 1440, "height": 900})
    panel = open_notebook(page, lab, NOTEBOOK)
    run_all_cells(page)
    assert_widgets_rendered(page)
    widget = panel.locator(
        ".jupyter-widgets", has=page.get_by_role("button", name="Resolve all for the selection")
    ).last
    buttons = widget.locator("button.jupyter-button:visible")
    assert buttons.count() >= 8, "the resolve, hand-off, pager and export buttons"
    cut = buttons.evaluate_all(
        """buttons => buttons
            .filter(b => b.scrollWidth > b.clientWidth + 1)
            .map(b => `${b.innerText.trim()}: ${b.scrollWidth} > ${b.clientWidth} px`)"""
    )
    shots("buttons", widget.get_by_role("button", name="Resolve all for the selection"))
    assert cut == []
    # the pager and the summary say where the analyst is in a group of any size
    assert "members 1–" in widget.locator(".opskit-checklist-pager").inner_text()
    assert "members" in widget.locator(".opskit-checklist-summary").inner_text()
