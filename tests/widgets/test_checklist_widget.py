"""The checklist widget without a browser: set values, click, assert the DB and the view."""

from __future__ import annotations

import csv
import re

from sqlalchemy import select

from opskit import schema as s
from opskit.audit import audit_events
from opskit.checklist import resolve_checklist
from opskit.widgets import ChecklistWidget, checklist_table, export_checklist_csv
from opskit.widgets import checklist as checklist_widget

RESOLVABLE = ["online_booking", "integrations", "credits_auto_top_up", "appointment_reminders"]


def shown_states(widget, email):
    """The states the grid shows for a member, read off the HTML cells."""
    cells = re.findall(
        rf'data-email="{re.escape(email)}" data-item="(\w+)" data-state="(\w+)"',
        widget.grid.value,
    )
    return dict(cells)


def peter_profiles(db):
    bp = s.booking_profiles.c
    with db.read() as conn:
        return conn.execute(
            select(bp.directory_profile, bp.online_bookings).where(bp.user_id == "u-peter")
        ).all()


def widget_on_harbour(db, clinic, actor):
    widget = ChecklistWidget(db, actor=actor)
    widget.select_group("Harbour Clinic")
    widget.select_members([clinic.peter])
    return widget


def test_resolving_a_member_item_asks_first_then_changes_the_database_and_shows_ok(db, clinic):
    widget = widget_on_harbour(db, clinic, clinic.ops)
    assert shown_states(widget, clinic.peter)["online_booking"] == "action_needed"
    assert widget.group_picker.value == clinic.harbour

    widget.resolve_buttons["online_booking"].click()
    assert widget.confirm_box.layout.display != "none"
    assert (
        "hid the profile and disabled online bookings at 2 locations" in widget.confirm_text.value
    )
    assert all(p == ("public", "enabled") for p in peter_profiles(db))  # nothing yet

    widget.confirm_button.click()
    assert all(p == ("hidden", "disabled") for p in peter_profiles(db))
    assert shown_states(widget, clinic.peter)["online_booking"] == "ok"
    assert shown_states(widget, clinic.peter)["integrations"] == "action_needed"
    assert widget.confirm_box.layout.display == "none"
    assert "resolved 1 item" in widget.message.value
    assert [(e["action"], e["item"]) for e in audit_events(db)] == [
        ("checklist_resolved", "online_booking")
    ]


def test_resolve_all_for_the_selection_resolves_every_open_item(db, clinic):
    widget = widget_on_harbour(db, clinic, clinic.ops)
    widget.select_members([clinic.peter, clinic.mia])
    widget.resolve_all_button.click()
    assert widget.confirm_text.value.count("<li>") == 4
    widget.confirm_button.click()
    shown = shown_states(widget, clinic.peter)
    assert [shown[item] for item in RESOLVABLE] == ["ok"] * 4
    assert shown["future_appointments"] == "advisory"
    assert len(audit_events(db)) == 4


def test_cancel_changes_nothing(db, clinic):
    widget = widget_on_harbour(db, clinic, clinic.ops)
    widget.resolve_all_button.click()
    widget.cancel_button.click()
    assert widget.confirm_box.layout.display == "none"
    assert "nothing changed" in widget.message.value
    assert audit_events(db) == []
    widget.confirm_button.click()  # nothing pending any more
    assert audit_events(db) == []


def test_a_member_without_full_access_sees_the_refusal_inline(db, clinic):
    widget = widget_on_harbour(db, clinic, clinic.frank)
    widget.resolve_all_button.click()
    assert widget.confirm_box.layout.display == "none"
    assert "frank@example.test may not resolve checklist items in Harbour Clinic" in (
        widget.message.value
    )
    assert audit_events(db) == []
    assert shown_states(widget, clinic.peter)["online_booking"] == "action_needed"


def test_resolving_needs_a_selection(db, clinic):
    widget = ChecklistWidget(db, group=clinic.harbour, actor=clinic.ops)
    widget.resolve_all_button.click()
    assert "select the members" in widget.message.value
    assert audit_events(db) == []


def test_the_grid_greys_inactive_members_and_lists_them_last(db, clinic):
    widget = ChecklistWidget(db, group="Harbour Clinic", actor=clinic.ops)
    rows = re.findall(r'<tr data-status="(\w+)"([^>]*)>', widget.grid.value)
    assert [status for status, _style in rows][-1] == "inactive"
    assert all(("#9e9e9e" in style) == (status == "inactive") for status, style in rows)
    assert widget.member_picker.options[-1][0].endswith("· inactive")
    assert "background:#c62828" in widget.grid.value  # action_needed stands out


def test_export_csv_writes_the_shown_rows(db, clinic, tmp_path):
    widget = widget_on_harbour(db, clinic, clinic.ops)
    widget.export_path.value = str(tmp_path / "out" / "peter.csv")
    widget.export_button.click()
    with open(tmp_path / "out" / "peter.csv", newline="") as handle:
        records = list(csv.DictReader(handle))
    assert [(r["email"], r["item"]) for r in records][0] == (clinic.peter, "online_booking")
    assert len(records) == 6
    assert "wrote 6 rows" in widget.message.value


def test_the_static_table_and_the_csv_export_for_a_group(db, clinic, tmp_path):
    table = checklist_table(db, group=clinic.harbour)
    assert repr(table) == "<checklist of 8 members (1 inactive): 4 items need action>"
    assert 'data-state="action_needed"' in table._repr_html_()
    path = export_checklist_csv(db, tmp_path / "harbour.csv", group=clinic.harbour)
    with open(path, newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 6 * 8


def test_the_csv_export_is_spreadsheet_safe(db, clinic, tmp_path):
    """docs/rules.md, CSV written for people: a group named like a formula stays text."""
    with db.begin() as conn:
        conn.execute(
            s.groups.update().where(s.groups.c.group_id == "g-harbour").values(name="=SUM(1)")
        )
    path = export_checklist_csv(db, tmp_path / "harbour.csv", group="g-harbour")
    with open(path, newline="") as handle:
        groups = {record["group"] for record in csv.DictReader(handle)}
    assert groups == {"'=SUM(1)"}


# ------------------------------------------------- one read for a notebook's first run


def reads_of_the_checklist(monkeypatch):
    """Each checklist read the widget module makes, by what it asked for."""
    reads = []
    read = checklist_widget.checklist

    def counted(db, **scope):
        reads.append(scope)
        return read(db, **scope)

    monkeypatch.setattr(checklist_widget, "checklist", counted)
    return reads


def states_in_csv(path, email):
    with open(path, newline="") as handle:
        return {r["item"]: r["state"] for r in csv.DictReader(handle) if r["email"] == email}


def test_the_widget_and_the_export_start_from_a_table_just_read(db, clinic, tmp_path, monkeypatch):
    table = checklist_table(db, group="Harbour Clinic")
    reads = reads_of_the_checklist(monkeypatch)
    widget = ChecklistWidget(db, group="Harbour Clinic", actor=clinic.ops, table=table)
    assert widget.rows is table.rows
    assert shown_states(widget, clinic.peter)["online_booking"] == "action_needed"
    export_checklist_csv(db, tmp_path / "reused.csv", group="Harbour Clinic", table=table)
    assert reads == []
    export_checklist_csv(db, tmp_path / "read.csv", group="Harbour Clinic")
    assert (tmp_path / "reused.csv").read_bytes() == (tmp_path / "read.csv").read_bytes()


def test_a_change_recorded_after_the_table_was_read_is_shown_not_the_table(db, clinic, tmp_path):
    table = checklist_table(db, group=clinic.harbour)
    resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="online_booking", actor=clinic.ops
    )
    widget = ChecklistWidget(db, group=clinic.harbour, actor=clinic.ops, table=table)
    assert shown_states(widget, clinic.peter)["online_booking"] == "ok"
    path = export_checklist_csv(db, tmp_path / "after.csv", group=clinic.harbour, table=table)
    assert states_in_csv(path, clinic.peter)["online_booking"] == "ok"


def test_a_table_read_too_long_ago_or_of_another_group_is_read_again(
    db, clinic, tmp_path, monkeypatch
):
    table = checklist_table(db, group=clinic.harbour)
    reads = reads_of_the_checklist(monkeypatch)
    ChecklistWidget(db, group="g-summit", actor=clinic.ops, table=table)
    assert reads == [{"group": "g-summit"}]
    monkeypatch.setattr(checklist_widget, "REUSE_SECONDS", -1.0)
    export_checklist_csv(db, tmp_path / "late.csv", group=clinic.harbour, table=table)
    assert len(reads) == 2


def test_every_later_draw_and_the_export_button_read_the_database_again(db, clinic, tmp_path):
    table = checklist_table(db, group=clinic.harbour)
    widget = ChecklistWidget(db, group=clinic.harbour, actor=clinic.ops, table=table)
    widget.select_members([clinic.peter])
    # a change from elsewhere (another notebook, the CLI) after the widget was drawn
    resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="online_booking", actor=clinic.ops
    )
    widget.export_path.value = str(tmp_path / "peter.csv")
    widget.export_button.click()
    assert states_in_csv(tmp_path / "peter.csv", clinic.peter)["online_booking"] == "ok"
    assert shown_states(widget, clinic.peter)["online_booking"] == "ok"
    assert widget.selection == [(clinic.harbour, clinic.peter)]


# ------------------------------------------------------------------------ hand-off


def appointment_owners(db):
    a = s.appointments.c
    with db.read() as conn:
        return dict(conn.execute(select(a.appointment_id, a.practitioner_id)).all())


def test_the_hand_off_offers_the_eligible_successors_of_the_group(db, clinic):
    widget = widget_on_harbour(db, clinic, clinic.ops)
    values = [v for _label, v in widget.handoff_picker.options]
    # fiona (full) and mia (clinical); rita is read-only, ivan inactive, frank an admin
    assert values == ["auto", "cancel", clinic.fiona, clinic.mia]


def test_a_hand_off_shows_the_proposed_moves_then_confirm_applies_them(db, clinic):
    widget = widget_on_harbour(db, clinic, clinic.ops)
    widget.handoff_picker.value = clinic.mia
    widget.handoff_button.click()
    assert widget.confirm_box.layout.display != "none"
    shown = widget.confirm_text.value
    assert 'data-appointment="a0"' in shown and 'data-appointment="a1"' in shown
    assert shown.count(f"to {clinic.mia}") == 2
    assert appointment_owners(db)["a0"] == "u-peter"  # nothing yet

    widget.confirm_button.click()
    assert appointment_owners(db) == {"a0": "u-mia", "a1": "u-mia", "a2": "u-peter"}
    assert "2 appointment(s) reassigned, 0 cancelled" in widget.message.value
    assert widget.confirm_box.layout.display == "none"
    assert [e["action"] for e in audit_events(db)] == [
        "deactivated",
        "appointment_reassigned",
        "appointment_reassigned",
    ]


def test_cancel_on_the_hand_off_confirmation_changes_nothing(db, clinic):
    widget = widget_on_harbour(db, clinic, clinic.ops)
    widget.handoff_picker.value = "cancel"
    widget.handoff_button.click()
    assert widget.confirm_text.value.count("cancelled") == 2
    widget.cancel_button.click()
    assert appointment_owners(db)["a0"] == "u-peter"
    assert audit_events(db) == []


def test_a_hand_off_nobody_can_take_shows_the_refusal_inline(db, clinic):
    from .. import scenarios

    with db.begin() as conn:
        conn.execute(
            s.appointments.insert().values(
                appointment_id="m0", group_id="g-summit", practitioner_id="u-mia",
                patient_id="p", starts_at=scenarios.T0.replace(day=2, hour=10), status="booked",
            )
        )  # fmt: skip
    widget = widget_on_harbour(db, clinic, clinic.ops)
    widget.handoff_picker.value = clinic.mia
    widget.handoff_button.click()
    assert widget.confirm_box.layout.display == "none"
    assert "appointment a0 at 2026-07-02T10:00:00Z cannot be placed" in widget.message.value


def test_the_hand_off_needs_exactly_one_member_selected(db, clinic):
    widget = widget_on_harbour(db, clinic, clinic.ops)
    widget.select_members([clinic.peter, clinic.mia])
    widget.handoff_button.click()
    assert "select the one member" in widget.message.value
    assert widget.confirm_box.layout.display == "none"


# ------------------------------------------------- bounded at any group size (issue 21)


def test_the_widget_shows_one_page_of_members_and_keeps_the_selection_across_pages(
    db, clinic, monkeypatch
):
    monkeypatch.setattr(checklist_widget, "PAGE_SIZE", 3)
    widget = ChecklistWidget(db, group="Harbour Clinic", actor=clinic.ops)
    assert len(widget.member_picker.options) == 3
    assert len(re.findall(r"<tr data-status", widget.grid.value)) == 3
    assert "members 1–3 of 8" in widget.page_label.value
    assert "<b>8</b> members (1 inactive)" in widget.summary.value
    assert widget.previous_button.disabled and not widget.next_button.disabled

    first = widget.member_picker.options[0][1]
    widget.member_picker.value = (first,)
    widget.next_button.click()
    assert "members 4–6 of 8" in widget.page_label.value
    second = widget.member_picker.options[0][1]
    widget.member_picker.value = (second,)
    assert [email for _group, email in widget.selection] == [first, second]
    assert "2 selected" in widget.selection_label.value

    widget.next_button.click()
    assert "members 7–8 of 8" in widget.page_label.value and widget.next_button.disabled
    widget.next_button.click()  # past the last page: stays there
    assert "members 7–8 of 8" in widget.page_label.value
    widget.previous_button.click()
    assert widget.member_picker.value == (second,)


def test_the_search_narrows_the_pages_and_a_selection_elsewhere_is_kept(db, clinic, monkeypatch):
    monkeypatch.setattr(checklist_widget, "PAGE_SIZE", 3)
    widget = widget_on_harbour(db, clinic, clinic.ops)
    widget.search("mia")
    assert [email for _label, email in widget.member_picker.options] == [clinic.mia]
    assert "of 1 matching" in widget.page_label.value
    widget.member_picker.value = (clinic.mia,)
    assert {email for _group, email in widget.selection} == {clinic.peter, clinic.mia}
    widget.search("no such member")
    assert "no member matches" in widget.page_label.value
    assert len(widget.selection) == 2


def test_a_large_selection_shows_a_page_of_rows_and_exports_them_all(
    db, clinic, tmp_path, monkeypatch
):
    monkeypatch.setattr(checklist_widget, "PAGE_SIZE", 3)
    widget = ChecklistWidget(db, group="Harbour Clinic", actor=clinic.ops)
    everyone = [m["email"] for m in checklist_widget._members(widget.rows)]
    widget.select_members(everyone)
    assert len(re.findall(r"<tr data-status", widget.grid.value)) == 3
    assert "3 of 8 members shown" in widget.grid.value
    widget.export_path.value = str(tmp_path / "all.csv")
    widget.export_button.click()
    assert "wrote 48 rows" in widget.message.value


def test_the_static_table_shows_the_summary_and_a_bounded_page(db, clinic):
    table = checklist_table(db, group=clinic.harbour)
    table.limit = 3
    shown = table._repr_html_()
    assert shown.index("opskit-checklist-summary") < shown.index("<table")
    assert len(re.findall(r"<tr data-status", shown)) == 3
    assert "3 of 8 members shown" in shown and "export_checklist_csv" in shown


def test_the_action_buttons_are_sized_to_their_labels(db, clinic):
    """At 1440 px a fixed-width button cut "Resolve online bo..." (issue 21)."""
    widget = ChecklistWidget(db, group="Harbour Clinic", actor=clinic.ops)
    buttons = [*widget.resolve_buttons.values(), widget.resolve_all_button, widget.handoff_button]
    assert all(b.layout.width == "auto" and b.layout.min_width == "max-content" for b in buttons)
