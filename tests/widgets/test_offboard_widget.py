"""The bulk offboarding widget without a browser: upload or paste, plan, click Apply,
confirm, assert the database and what the widget shows; then undo."""

from __future__ import annotations

import base64
import csv
import html
import io
import re

from sqlalchemy import select

from opskit import schema as s
from opskit.audit import audit_events
from opskit.widgets import OffboardingWidget, PlanTable, RunTable

UPLOAD = (
    "\ufeffEmail;Group;Reason;Ticket\r\n"
    "peter@EXAMPLE.test ; Harbour Clinic ; moved ; T-1\r\n"
    "\r\n"
    "mia@example.test;;;T-2\r\n"
    "fiona@example.test;g-harbour;;T-3\r\n"
    "nobody@example.test;;;T-4\r\n"
    "peter@example.test;Harbour Clinic;;T-5\r\n"
).encode()


def status(db, group_id, name):
    m = s.memberships.c
    with db.read() as conn:
        return conn.execute(
            select(m.status, m.read_only).where(m.group_id == group_id, m.user_id == f"u-{name}")
        ).one()


def blockers_shown(widget):
    return re.findall(r'data-row="(\d+)" data-blocker="(\w*)"', widget.plan_view.value)


def uploaded(db, clinic, **options):
    widget = OffboardingWidget(db, actor=clinic.ops, **options)
    widget.use_upload("leavers.csv", UPLOAD)
    return widget


def test_an_uploaded_csv_is_planned_with_blocked_rows_highlighted(db, clinic):
    widget = uploaded(db, clinic)
    assert widget.plan is not None and widget.plan.source == "leavers.csv"
    assert blockers_shown(widget) == [
        ("1", ""),
        ("2", ""),
        ("3", ""),
        ("4", "full_access"),
        ("5", "not_found"),
        ("6", "duplicate"),
    ]
    assert "background:#fdecea" in widget.plan_view.value  # blocked rows stand out
    assert "Deactivate 3 memberships: 2 members in 2 groups (3 rows blocked)" in (
        widget.summary.value
    )
    assert "Summit Physio" in widget.summary.value and "duplicate 1" in widget.summary.value
    assert not widget.apply_button.disabled
    assert status(db, "g-harbour", "peter").status == "active"  # planning changes nothing


def test_apply_asks_first_stating_how_many_members_in_how_many_groups(db, clinic):
    widget = uploaded(db, clinic)
    widget.apply_button.click()
    assert widget.confirm_box.layout.display != "none"
    assert "2 members in 2 groups" in widget.confirm_text.value
    assert "checklist item" in widget.confirm_text.value
    assert status(db, "g-harbour", "peter").status == "active"
    widget.cancel_button.click()
    assert widget.confirm_box.layout.display == "none"
    assert "nothing changed" in widget.message.value
    assert audit_events(db) == []


def test_confirming_applies_the_plan_shows_results_and_offers_the_csv(db, clinic):
    widget = uploaded(db, clinic)
    widget.apply_button.click()
    widget.confirm_button.click()
    assert widget.run is not None and widget.run.state == "done"
    assert status(db, "g-harbour", "peter").status == "inactive"
    assert status(db, "g-summit", "mia").status == "inactive"
    assert status(db, "g-harbour", "fiona").status == "active"
    results = re.findall(r'data-row="(\d+)" data-result="(\w+)"', widget.results_view.value)
    assert results == [
        ("1", "deactivated"),
        ("2", "deactivated"),
        ("3", "deactivated"),
        ("4", "blocked"),
        ("5", "blocked"),
        ("6", "blocked"),
    ]
    assert "resolved online_booking" in widget.results_view.value  # the checklist ran
    encoded = re.search(r"base64,([A-Za-z0-9+/=]+)", widget.download.value).group(1)
    lines = base64.b64decode(encoded).decode().splitlines()
    assert lines[0] == "row,group_id,group,email,action,result,message"
    assert len(lines) == 7
    assert f"run {widget.run.run} done" in widget.message.value
    assert widget.apply_button.disabled and not widget.undo_button.disabled


def test_undo_from_the_widget_reactivates_the_run_and_restores_settings(db, clinic):
    widget = uploaded(db, clinic)
    widget.apply_button.click()
    widget.confirm_button.click()
    widget.undo_button.click()
    assert "3 membership(s) in 2 group(s)" in widget.confirm_text.value
    assert status(db, "g-harbour", "peter").status == "inactive"
    widget.confirm_button.click()
    assert status(db, "g-harbour", "peter").status == "active"
    assert status(db, "g-summit", "mia").status == "active"
    actions = [e["action"] for e in audit_events(db, run=widget.run.run)]
    assert actions.count("reactivated") == 3 and "settings_restored" in actions
    assert "undone: reactivated 3" in widget.message.value
    assert widget.undo_button.disabled


def test_pasted_emails_are_planned_for_every_group_the_actor_manages(db, clinic):
    widget = OffboardingWidget(db, actor=clinic.ops)
    widget.use_pasted(f"{clinic.mia}, {clinic.frank}\n")
    widget.plan_button.click()
    assert [(r.email, r.group_id) for r in widget.plan.rows] == [
        (clinic.mia, "g-harbour"),
        (clinic.mia, "g-summit"),
        (clinic.frank, "g-harbour"),
    ]


def test_a_saved_selection_can_be_planned_read_only_instead(db, clinic):
    chosen = [{"group_id": "g-harbour", "email": clinic.frank, "name": "Frank"}]
    widget = OffboardingWidget(
        db, actor=clinic.ops, read_only=True, selections={"from the user table": lambda: chosen}
    )
    widget.use_selection("from the user table")
    widget.plan_button.click()
    assert [(r.email, r.action, r.blocker) for r in widget.plan.rows] == [
        (clinic.frank, "read_only", None)
    ]
    widget.apply_button.click()
    widget.confirm_button.click()
    assert status(db, "g-harbour", "frank") == ("active", True)


def test_bad_input_is_shown_inline_and_nothing_can_be_applied(db, clinic):
    widget = OffboardingWidget(db, actor=clinic.ops)
    widget.use_upload("people.csv", b"name;group\nPeter;g-harbour\n")
    shown = html.unescape(widget.message.value)
    assert "people.csv:1, column email: no 'email' column" in shown
    assert widget.plan is None and widget.apply_button.disabled
    widget.actor_box.value = "ghost@example.test"
    widget.use_pasted(clinic.peter)
    widget.plan_button.click()
    assert "no user with email 'ghost@example.test'" in html.unescape(widget.message.value)


def test_the_plan_and_a_run_display_as_tables_in_a_notebook(db, clinic):
    widget = uploaded(db, clinic)
    shown = PlanTable(widget.plan)._repr_html_()
    assert "opskit-plan-counts" in shown and "opskit-plan" in shown
    widget.apply_button.click()
    widget.confirm_button.click()
    assert 'data-result="deactivated"' in RunTable(widget.results)._repr_html_()


def test_the_results_csv_is_spreadsheet_safe():
    """docs/rules.md, CSV written for people: no cell of a run's results runs as a formula."""
    from opskit.widgets.offboarding import results_csv

    text = results_csv([{"row": 1, "email": "@cmd", "message": "=HYPERLINK(1)", "group": None}])
    record = next(csv.DictReader(io.StringIO(text)))
    assert (record["email"], record["message"], record["group"]) == ("'@cmd", "'=HYPERLINK(1)", "")


def test_messages_and_confirmations_sit_under_the_buttons_above_the_long_tables(db, clinic):
    """docs/rules.md and issue 21: feedback appears next to the control that caused it.
    Every button is in the rows above the message and the confirmation, and the tables
    that grow with the plan (up to 500 rows each) come after them."""
    widget = uploaded(db, clinic)
    kids = list(widget.children)
    message, confirm = kids.index(widget.message), kids.index(widget.confirm_box)
    assert confirm == message + 1
    buttons = [
        widget.plan_button,
        widget.open_button,
        widget.submit_button,
        widget.approve_button,
        widget.apply_button,
        widget.undo_button,
    ]
    rows = {
        b: next(i for i, k in enumerate(kids) if b in getattr(k, "children", ())) for b in buttons
    }
    assert max(rows.values()) == message - 1, rows  # the action row is right above
    for table in (widget.summary, widget.plan_view, widget.results_view):
        assert kids.index(table) > confirm
    widget.apply_button.click()  # a confirmation replaces the last message
    assert widget.message.value == "" and widget.confirm_box.layout.display != "none"
