"""Bulk offboarding (docs/rules.md) on the clinic scenario, on SQLite and PostgreSQL.

The clinic (tests/scenarios.py): ``ops`` has Full Access in Harbour and Summit and is a
read-only billing administrator in Solo; peter has 2 open sessions and every checklist
item open; mia is in Harbour and Summit; ivan is inactive; fiona and olivia are Full
Access; rita is read-only.
"""

from __future__ import annotations

import gc
import json
import shutil
import subprocess

import pytest
from sqlalchemy import func, select, update

from opskit import offboard as ob
from opskit import schema as s
from opskit.audit import audit_events
from opskit.db import connect
from opskit.errors import BadInput, NotAuthorized, Refused, UnknownUser, WouldLockOutGroup
from opskit.lifecycle import change_access, deactivate, reactivate, sign_in
from opskit.offboard import Plan, apply_plan, plan_offboarding, resume_run, undo_run
from opskit.offboard import apply as ob_apply
from opskit.offboard import planner as ob_planner
from opskit.offboard.liveness import pid_start

from ..scenarios import build_clinic


def targets(*rows):
    """Rows of (email, group) or (email, group, action) as a selection."""
    out = []
    for row in rows:
        email, group, *rest = (*row,) if isinstance(row, tuple) else (row, None)
        record = {"email": email, "group": group}
        if rest:
            record["action"] = rest[0]
        out.append(record)
    return out


def plan_of(db, clinic, *rows, **options):
    return plan_offboarding(db, targets(*rows), actor=clinic.ops, **options)


def only(plan):
    [row] = plan.rows
    return row


def member(db, group_id, name):
    with db.read() as conn:
        return conn.execute(
            select(s.memberships).where(
                s.memberships.c.group_id == group_id, s.memberships.c.user_id == f"u-{name}"
            )
        ).one()


def open_sessions(db, group_id, name):
    c = s.sessions.c
    with db.read() as conn:
        return conn.execute(
            select(func.count()).where(
                c.group_id == group_id, c.user_id == f"u-{name}", c.revoked_at.is_(None)
            )
        ).scalar_one()


def table_counts(db):
    tables = [
        s.memberships,
        s.sessions,
        s.audit_events,
        s.settings_snapshots,
        s.offboard_runs,
        s.offboard_run_rows,
    ]
    with db.read() as conn:
        state = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables
        }
        state["inactive"] = conn.execute(
            select(func.count()).where(s.memberships.c.status == "inactive")
        ).scalar_one()
        state["revoked"] = conn.execute(
            select(func.count()).where(s.sessions.c.revoked_at.is_not(None))
        ).scalar_one()
    return state


def events(db, run=None, action=None):
    found = audit_events(db, run=run)
    return [e for e in found if action is None or e["action"] == action]


# --------------------------------------------------------------------------- planning


def test_planning_changes_nothing(db, clinic):
    before = table_counts(db)
    plan = plan_of(db, clinic, (clinic.peter, "Harbour Clinic"), clinic.mia, clinic.frank)
    assert len(plan.to_apply) == 4
    assert table_counts(db) == before


def test_a_plan_row_shows_checklist_items_sessions_appointments_and_a_fingerprint(db, clinic):
    row = only(plan_of(db, clinic, (clinic.peter, "g-harbour")))
    assert row.blocker is None
    assert set(row.checklist) == {
        "online_booking",
        "integrations",
        "credits_auto_top_up",
        "appointment_reminders",
    }
    assert (row.sessions, row.future_appointments) == (2, 2)
    assert len(row.fingerprint) == 16
    assert row.to_dict()["group_id"] == "g-harbour"


def test_emails_match_whatever_their_case_and_surrounding_spaces(db, clinic):
    row = only(plan_of(db, clinic, ("  PETER@Example.Test ", "Harbour Clinic")))
    assert (row.blocker, row.email, row.group_id) == (None, clinic.peter, "g-harbour")


def test_a_row_without_a_group_means_every_active_membership_the_actor_may_manage(db, clinic):
    plan = plan_of(db, clinic, clinic.mia)
    assert [(r.group_id, r.blocker) for r in plan.rows] == [
        ("g-harbour", None),
        ("g-summit", None),
    ]
    assert {r.line for r in plan.rows} == {1}


def test_a_row_without_a_group_whose_memberships_cannot_be_managed_says_why(db, clinic):
    row = only(plan_of(db, clinic, clinic.sole))
    assert (row.group_id, row.blocker) == ("g-solo", "not_authorised")
    assert "read-only there" in row.message


def test_the_group_option_limits_the_plan_to_that_group(db, clinic):
    plan = plan_of(db, clinic, clinic.mia, (clinic.frank, "g-harbour"), group="Summit Physio")
    assert [(r.email, r.group_id, r.blocker) for r in plan.rows] == [
        (clinic.mia, "g-summit", None),
        (clinic.frank, None, "not_found"),
    ]
    assert "outside the plan's group" in plan.rows[1].message


def test_an_unknown_user_is_blocked_as_not_found(db, clinic):
    row = only(plan_of(db, clinic, "nobody@example.test"))
    assert (row.blocker, row.message) == ("not_found", "no user with email 'nobody@example.test'")


def test_an_unknown_group_is_blocked_as_not_found(db, clinic):
    row = only(plan_of(db, clinic, (clinic.peter, "Nowhere Clinic")))
    assert row.blocker == "not_found" and "Nowhere Clinic" in row.message


def test_a_user_who_is_not_a_member_of_the_group_is_blocked_as_not_found(db, clinic):
    row = only(plan_of(db, clinic, (clinic.peter, "g-summit")))
    assert row.blocker == "not_found" and "not a member of Summit Physio" in row.message


def test_a_group_where_the_actor_has_no_full_access_is_blocked_as_not_authorised(db, clinic):
    row = only(plan_of(db, clinic, (clinic.sole, "g-solo")))
    assert row.blocker == "not_authorised"
    assert "only an active Full Access member may" in row.message


def test_a_full_access_member_is_blocked_until_their_level_is_lowered(db, clinic):
    row = only(plan_of(db, clinic, (clinic.fiona, "g-harbour")))
    assert row.blocker == "full_access" and "lower their access level first" in row.message


def test_a_full_access_member_cannot_be_planned_read_only_either(db, clinic):
    row = only(plan_of(db, clinic, (clinic.fiona, "g-harbour", "read_only")))
    assert row.blocker == "full_access" and "cannot be made read-only" in row.message


def test_a_change_in_a_group_without_an_active_owner_would_lock_it_out(db, clinic):
    with db.begin() as conn:  # the owner left outside opskit: the group is already locked
        conn.execute(
            update(s.memberships)
            .where(s.memberships.c.user_id == "u-olivia")
            .values(status="inactive")
        )
    row = only(plan_of(db, clinic, (clinic.peter, "g-harbour")))
    assert row.blocker == "would_lock_out" and "no active account owner" in row.message


def test_an_inactive_member_is_blocked_as_already_inactive(db, clinic):
    row = only(plan_of(db, clinic, (clinic.ivan, "g-harbour")))
    assert row.blocker == "already_inactive"


def test_a_read_only_member_planned_read_only_is_blocked_as_already_read_only(db, clinic):
    row = only(plan_of(db, clinic, (clinic.rita, "g-harbour", "read_only")))
    assert row.blocker == "already_read_only"


def test_a_second_row_for_the_same_member_is_a_duplicate_of_the_first(db, clinic):
    plan = plan_of(
        db, clinic, (clinic.peter, "g-harbour"), clinic.mia, (clinic.peter, "Harbour Clinic")
    )
    assert [(r.row, r.blocker, r.message) for r in plan.rows] == [
        (1, None, None),
        (2, None, None),
        (3, None, None),
        (4, "duplicate", "duplicate of row 1"),
    ]


def test_a_plan_made_a_slice_at_a_time_is_the_same_plan(db, clinic, monkeypatch):
    rows = ((clinic.peter, "g-harbour"), clinic.mia, "nobody@example.test", clinic.sole)
    rows += ((clinic.peter, "Harbour Clinic"), (clinic.mia, "g-summit"), (clinic.fiona, None))
    whole = plan_of(db, clinic, *rows)
    monkeypatch.setattr(ob_planner, "PLAN_SLICE", 2)
    sliced = plan_of(db, clinic, *rows)
    assert [r.to_dict() for r in sliced.rows] == [r.to_dict() for r in whole.rows]
    assert [r.message for r in sliced.rows if r.blocker == "duplicate"] == [
        "duplicate of row 1",
        "duplicate of row 3",
    ]


def test_read_only_plans_keep_sessions_and_a_default_action_applies_to_silent_rows(db, clinic):
    row = only(plan_of(db, clinic, (clinic.peter, "g-harbour"), action="read_only"))
    assert (row.action, row.sessions, row.blocker) == ("read_only", 0, None)


def test_an_unknown_actor_is_bad_input(db, clinic):
    with pytest.raises(UnknownUser):
        plan_offboarding(db, targets(clinic.peter), actor="ghost@example.test")


def test_an_unknown_default_action_is_bad_input(db, clinic):
    with pytest.raises(BadInput, match="not an action"):
        plan_of(db, clinic, clinic.peter, action="delete")


def test_counts_by_group_and_action_and_the_confirmation_sentence(db, clinic):
    plan = plan_of(db, clinic, clinic.mia, (clinic.fiona, "g-harbour"), (clinic.frank, "g-harbour"))
    assert plan.counts() == [
        {
            "group_id": "g-harbour",
            "group": "Harbour Clinic",
            "action": "deactivate",
            "to_apply": 2,
            "blocked": 1,
        },
        {
            "group_id": "g-summit",
            "group": "Summit Physio",
            "action": "deactivate",
            "to_apply": 1,
            "blocked": 0,
        },
    ]
    assert plan.describe() == "Deactivate 3 memberships: 2 members in 2 groups (1 row blocked)"


def test_the_plan_file_has_a_header_and_one_row_per_line_and_reads_back(db, clinic, tmp_path):
    plan = plan_of(db, clinic, clinic.mia, "nobody@example.test", source="leavers.csv")
    path = plan.save(tmp_path / "plan.json")
    document = json.loads(path.read_text())
    assert {"actor", "created_at", "options", "source", "rows"} <= set(document)
    assert (document["actor"], document["source"]) == (clinic.ops, "leavers.csv")
    assert document["created_at"] == "2026-07-01T09:00:00Z"
    row_lines = [line for line in path.read_text().splitlines() if line.startswith('  {"row"')]
    assert len(row_lines) == 3
    again = Plan.load(path)
    assert [r.to_dict() for r in again.rows] == [r.to_dict() for r in plan.rows]


def test_a_saved_plan_reads_back_the_same_after_a_windows_editor_adds_a_bom_and_crlf(
    db, clinic, tmp_path
):
    plan = plan_of(db, clinic, clinic.mia, (clinic.peter, "g-harbour"), "nobody@example.test")
    path = tmp_path / "plan.json"
    path.write_bytes(b"\xef\xbb\xbf" + plan.to_json().replace("\n", "\r\n").encode())
    again = Plan.load(path)
    assert [r.to_dict() for r in again.rows] == [r.to_dict() for r in plan.rows]
    assert (again.actor, again.source) == (plan.actor, plan.source)


def test_a_saved_plan_with_hand_loosened_values_is_still_read_leniently(db, clinic, tmp_path):
    plan = plan_of(db, clinic, (clinic.peter, "g-harbour"), "nobody@example.test")
    path = plan.save(tmp_path / "plan.json")
    text = (
        path.read_text()
        .replace('"row": 1,', '"row": "1",')
        .replace('"sessions": 0', '"sessions": null')
    )
    path.write_text(
        text.replace('"future_appointments": 0', '"future_appointments": 0, "note": "ok"')
    )
    again = Plan.load(path)
    assert [r.row for r in again.rows] == [1, 2]
    assert [r.to_dict() for r in again.rows] == [r.to_dict() for r in plan.rows]


def test_a_saved_plan_cut_short_is_bad_input_naming_the_file(db, clinic, tmp_path):
    plan = plan_of(db, clinic, (clinic.peter, "g-harbour"), clinic.mia)
    path = plan.save(tmp_path / "plan.json")
    path.write_text(path.read_text().rsplit("\n ]}", 1)[0])
    with pytest.raises(BadInput, match="invalid JSON") as caught:
        Plan.load(path)
    assert caught.value.file == str(path)


def test_a_run_keeps_its_plan_compactly_and_reads_it_back_whole(db, clinic):
    rows = [
        {"email": clinic.peter, "group": "g-harbour", "reason": 'said "bye",\nmoved to Zürich'},
        {"email": clinic.mia},
        {"email": "nobody@example.test"},
    ]
    plan = plan_offboarding(db, rows, actor=clinic.ops, source="leavers ü.csv")
    again = Plan.from_stored(plan.to_stored())
    assert [r.to_dict() for r in again.rows] == [r.to_dict() for r in plan.rows]
    assert (again.actor, again.source, again.created_at) == (
        plan.actor,
        plan.source,
        plan.created_at,
    )
    assert len(plan.to_stored()) < len(plan.to_json())


def test_a_run_keeps_a_hand_edited_plan_with_odd_values_and_reads_it_back(db, clinic, tmp_path):
    plan = plan_of(db, clinic, (clinic.peter, "g-harbour"), clinic.mia)
    path = plan.save(tmp_path / "plan.json")
    head, rows = path.read_text().split('"rows": [')
    path.write_text(head + '"rows": [' + rows.replace('"reason": null', '"reason": 2024', 1))
    edited = Plan.load(path)
    assert edited.rows[0].reason == 2024
    again = Plan.from_stored(edited.to_stored())
    assert [r.to_dict() for r in again.rows] == [r.to_dict() for r in edited.rows]


def test_a_damaged_stored_plan_is_named_as_damaged(db, clinic):
    plan = plan_of(db, clinic, (clinic.peter, "g-harbour"), clinic.mia)
    lines = plan.to_stored().split("\n")
    for damage in ("[[1,", "[[[],", '[{"row": 1},'):
        damaged = [lines[0], lines[1].replace("[[", damage, 1), *lines[2:]]
        with pytest.raises(BadInput, match="stored plan is damaged"):
            Plan.from_stored("\n".join(damaged), name="run ob-1")


def test_a_plan_file_that_is_not_json_is_bad_input_naming_file_and_line(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text('{"actor": "a@x.test",\n "rows": [\n  {"row": 1,,}\n ]}')
    with pytest.raises(BadInput) as caught:
        Plan.load(path)
    assert (caught.value.file, caught.value.line) == (str(path), 3)


def test_a_hand_edited_plan_row_with_a_bad_action_is_bad_input(db, clinic, tmp_path):
    plan = plan_of(db, clinic, (clinic.peter, "g-harbour"))
    path = plan.save(tmp_path / "plan.json")
    head, row = path.read_text().split('"rows": [')
    path.write_text(
        head + '"rows": [' + row.replace('"action": "deactivate"', '"action": "delete"')
    )
    with pytest.raises(BadInput, match="'delete' is not an action") as caught:
        Plan.load(path)
    assert caught.value.column == "rows[0].action"


# --------------------------------------------------------------------------- applying


def test_apply_deactivates_the_unblocked_rows_and_signs_them_out(db, clinic):
    plan = plan_of(db, clinic, (clinic.peter, "g-harbour"), clinic.mia, (clinic.fiona, "g-harbour"))
    run = apply_plan(db, plan, progress=False)
    assert (run.state, run.counts["deactivated"], run.counts["blocked"]) == ("done", 3, 1)
    assert member(db, "g-harbour", "peter").status == "inactive"
    assert member(db, "g-harbour", "peter").status_changed_by == "u-ops"
    assert open_sessions(db, "g-harbour", "peter") == 0
    assert open_sessions(db, "g-summit", "mia") == 0
    assert member(db, "g-harbour", "fiona").status == "active"
    results = {(r["email"], r["group_id"]): r["result"] for r in ob.run_rows(db, run.run)}
    assert results == {
        (clinic.peter, "g-harbour"): "deactivated",
        (clinic.mia, "g-harbour"): "deactivated",
        (clinic.mia, "g-summit"): "deactivated",
        (clinic.fiona, "g-harbour"): "blocked",
    }


def test_hand_added_plan_rows_without_a_user_id_are_found_by_email_at_apply_time(
    db, clinic, tmp_path
):
    plan = plan_of(db, clinic, (clinic.peter, "g-harbour"))
    document = json.loads(plan.to_json())
    [row] = document["rows"]
    row["user_id"] = None
    ghost = {**row, "row": 2, "email": "ghost@example.test"}
    document["rows"].append(ghost)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document))
    run = apply_plan(db, Plan.load(path), progress=False)
    assert member(db, "g-harbour", "peter").status == "inactive"
    assert [
        (r["email"], r["user_id"], r["result"], r["message"]) for r in ob.run_rows(db, run.run)
    ] == [
        (clinic.peter, "u-peter", "deactivated", "signed out of 2 sessions"),
        ("ghost@example.test", None, "stale", "no user with email 'ghost@example.test'"),
    ]


def test_apply_writes_exactly_one_deactivated_event_per_member_with_the_run_id(db, clinic):
    plan = plan_of(db, clinic, (clinic.peter, "g-harbour"), clinic.mia)
    run = apply_plan(db, plan, progress=False)
    written = events(db, run=run.run)
    assert sorted((e["email"], e["group_id"], e["action"]) for e in written) == [
        (clinic.mia, "g-harbour", "deactivated"),
        (clinic.mia, "g-summit", "deactivated"),
        (clinic.peter, "g-harbour", "deactivated"),
    ]
    peter = next(e for e in written if e["email"] == clinic.peter)
    assert peter["after"] == {"status": "inactive", "sessions_revoked": 2}


def test_apply_keeps_the_reason_of_each_row(db, clinic):
    rows = [{"email": clinic.peter, "group": "g-harbour", "reason": "moved abroad"}]
    plan = plan_offboarding(db, rows, actor=clinic.ops, reason="default reason")
    apply_plan(db, plan, progress=False)
    assert member(db, "g-harbour", "peter").status_reason == "moved abroad"
    assert events(db, action="deactivated")[-1]["reason"] == "moved abroad"


def test_apply_with_the_checklist_resolves_every_open_item_with_snapshots(db, clinic):
    run = apply_plan(
        db, plan_of(db, clinic, (clinic.peter, "g-harbour")), resolve_checklist=True, progress=False
    )
    resolved = events(db, run=run.run, action="checklist_resolved")
    assert sorted(e["item"] for e in resolved) == [
        "appointment_reminders",
        "credits_auto_top_up",
        "integrations",
        "online_booking",
    ]
    with db.read() as conn:
        snapshots = conn.execute(select(s.settings_snapshots)).all()
        profiles = conn.execute(
            select(
                s.booking_profiles.c.directory_profile, s.booking_profiles.c.online_bookings
            ).where(s.booking_profiles.c.user_id == "u-peter")
        ).all()
    assert {snap.run_id for snap in snapshots} == {run.run}
    assert set(profiles) == {("hidden", "disabled")}


def test_apply_without_the_checklist_leaves_settings_alone(db, clinic):
    run = apply_plan(db, plan_of(db, clinic, (clinic.peter, "g-harbour")), progress=False)
    assert events(db, run=run.run, action="checklist_resolved") == []
    assert table_counts(db)["settings_snapshots"] == 0


def test_read_only_instead_keeps_the_member_active_and_signed_in(db, clinic):
    plan = plan_of(db, clinic, (clinic.peter, "g-harbour", "read_only"))
    run = apply_plan(db, plan, progress=False)
    peter = member(db, "g-harbour", "peter")
    assert (peter.status, peter.read_only) == ("active", True)
    assert open_sessions(db, "g-harbour", "peter") == 2
    [event] = events(db, run=run.run)
    assert (event["action"], event["before"], event["after"]) == (
        "access_changed",
        {"read_only": False},
        {"read_only": True},
    )
    assert ob.run_rows(db, run.run)[0]["result"] == "read_only"


def test_a_member_who_signed_in_after_planning_is_refused_as_stale(db, clinic):
    plan = plan_of(db, clinic, (clinic.peter, "g-harbour"), (clinic.frank, "g-harbour"))
    sign_in(db, clinic.peter, "g-harbour", device="new laptop")
    run = apply_plan(db, plan, progress=False)
    rows = {r["email"]: r for r in ob.run_rows(db, run.run)}
    assert rows[clinic.peter]["result"] == "stale"
    assert "open sessions 2 -> 3" in rows[clinic.peter]["message"]
    assert rows[clinic.frank]["result"] == "deactivated"
    assert member(db, "g-harbour", "peter").status == "active"


def test_a_member_whose_access_changed_after_planning_is_refused_as_stale(db, clinic):
    plan = plan_of(db, clinic, (clinic.frank, "g-harbour"))
    change_access(db, clinic.frank, "g-harbour", actor=clinic.olivia, level="billing")
    run = apply_plan(db, plan, progress=False)
    [row] = ob.run_rows(db, run.run)
    assert row["result"] == "stale" and "front_desk -> billing" in row["message"]
    assert member(db, "g-harbour", "frank").status == "active"


def test_authorisation_is_checked_again_at_apply_time(db, clinic):
    plan = plan_of(db, clinic, (clinic.frank, "g-harbour"), (clinic.mia, "g-summit"))
    change_access(db, clinic.ops, "g-harbour", actor=clinic.olivia, level="billing")
    run = apply_plan(db, plan, progress=False)
    rows = {r["group_id"]: r for r in ob.run_rows(db, run.run)}
    assert rows["g-harbour"]["result"] == "blocked"
    assert "not authorised at apply time" in rows["g-harbour"]["message"]
    assert rows["g-summit"]["result"] == "deactivated"
    assert member(db, "g-harbour", "frank").status == "active"


def test_applying_the_same_plan_again_changes_nothing_and_writes_no_event(db, clinic):
    plan = plan_of(db, clinic, (clinic.peter, "g-harbour"), clinic.mia)
    apply_plan(db, plan, resolve_checklist=True, progress=False)
    before = table_counts(db)
    again = apply_plan(db, plan, resolve_checklist=True, progress=False)
    assert again.counts["unchanged"] == 3 and again.counts["deactivated"] == 0
    after = table_counts(db)
    assert after["audit_events"] == before["audit_events"]
    assert after["settings_snapshots"] == before["settings_snapshots"]


def test_a_member_deactivated_by_someone_else_meanwhile_is_unchanged(db, clinic):
    plan = plan_of(db, clinic, (clinic.frank, "g-harbour"))
    deactivate(db, clinic.frank, "g-harbour", actor=clinic.olivia)
    run = apply_plan(db, plan, progress=False)
    assert ob.run_rows(db, run.run)[0]["result"] == "unchanged"
    assert len(events(db, action="deactivated")) == 1


def test_batches_cover_every_row_once(db, clinic):
    plan = plan_of(db, clinic, clinic.peter, clinic.mia, clinic.frank, clinic.rita)
    run = apply_plan(db, plan, batch_size=2, progress=False)
    assert (run.counts["deactivated"], run.pending) == (5, 0)
    assert len(events(db, run=run.run, action="deactivated")) == 5


def test_a_row_that_fails_is_recorded_failed_and_the_rest_goes_on(db, clinic, monkeypatch):
    real = ob_apply.revoke_sessions
    frank = member(db, "g-harbour", "frank").membership_id

    def failing(conn, ids, **kw):
        if frank in ids:
            raise WouldLockOutGroup("simulated failure for frank")
        return real(conn, ids, **kw)

    monkeypatch.setattr(ob_apply, "revoke_sessions", failing)
    plan = plan_of(db, clinic, (clinic.peter, "g-harbour"), (clinic.frank, "g-harbour"), clinic.mia)
    run = apply_plan(db, plan, resolve_checklist=True, progress=False)
    rows = {(r["email"], r["group_id"]): r for r in ob.run_rows(db, run.run)}
    assert rows[(clinic.frank, "g-harbour")]["result"] == "failed"
    assert "simulated failure" in rows[(clinic.frank, "g-harbour")]["message"]
    assert member(db, "g-harbour", "frank").status == "active"
    assert open_sessions(db, "g-harbour", "frank") == 1
    assert run.counts["deactivated"] == 3


# ---------------------------------------------------------------------- ledger, resume


def crash_after_batches(monkeypatch, n):
    """Make the process 'die' (an exception it does not handle) after n committed batches."""
    real = ob_apply._process
    calls = {"n": 0}

    def dying(db, ctx, numbers):
        if calls["n"] == n:
            raise KeyboardInterrupt
        calls["n"] += 1
        real(db, ctx, numbers)

    monkeypatch.setattr(ob_apply, "_process", dying)


def test_a_run_that_dies_midway_is_interrupted_and_resume_finishes_it_once(db, clinic, monkeypatch):
    plan = plan_of(db, clinic, clinic.peter, clinic.mia, clinic.frank, clinic.rita)
    crash_after_batches(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        apply_plan(db, plan, batch_size=2, resolve_checklist=True, progress=False)
    monkeypatch.undo()
    [run] = ob.list_runs(db)
    assert (run.state, run.pending) == ("interrupted", 1)
    assert len(events(db, run=run.run, action="deactivated")) == 4
    done = resume_run(db, run.run, progress=False)
    assert (done.state, done.pending, done.counts["deactivated"]) == ("done", 0, 5)
    deactivated = events(db, run=run.run, action="deactivated")
    assert len(deactivated) == len({(e["group_id"], e["email"]) for e in deactivated}) == 5
    resolved = events(db, run=run.run, action="checklist_resolved")
    assert len(resolved) == len({(e["group_id"], e["email"], e["item"]) for e in resolved})


def test_an_interrupted_run_lists_its_pending_row_from_its_plan(db, clinic, monkeypatch):
    plan = plan_of(db, clinic, clinic.peter, clinic.mia, clinic.frank, clinic.rita)
    crash_after_batches(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        apply_plan(db, plan, batch_size=2, progress=False)
    [run] = ob.list_runs(db)
    rows = ob.run_rows(db, run.run)
    assert [r["row"] for r in rows] == [r.row for r in plan.rows]
    [pending] = [r for r in rows if r["result"] is None]
    planned = next(r for r in plan.rows if r.row == pending["row"])
    assert (pending["email"], pending["group"]) == (planned.email, planned.group)
    assert run.rows == len(plan.rows) and run.pending == 1


def test_a_running_run_whose_process_is_gone_shows_as_interrupted(db, clinic):
    run = apply_plan(db, plan_of(db, clinic, clinic.frank), progress=False)
    with db.begin() as conn:
        no_such_process = 2**22 + 1
        conn.execute(update(s.offboard_runs).values(state="running", process_pid=no_such_process))
    assert ob.run_summary(db, run.run).state == "interrupted"
    assert [r.state for r in ob.list_runs(db)] == ["interrupted"]


def test_resume_refuses_a_run_whose_process_is_still_alive(db, clinic):
    run = apply_plan(db, plan_of(db, clinic, clinic.frank), progress=False)
    other = subprocess.Popen(["sleep", "30"])
    try:
        with db.begin() as conn:
            conn.execute(
                update(s.offboard_runs).values(
                    state="running", process_pid=other.pid, process_pid_start=pid_start(other.pid)
                )
            )
        assert ob.run_summary(db, run.run).state == "running"
        with pytest.raises(Refused, match="still running"):
            resume_run(db, run.run, progress=False)
    finally:
        other.kill()
        other.wait()
    assert ob.run_summary(db, run.run).state == "interrupted"


def test_resuming_a_finished_run_does_nothing(db, clinic):
    run = apply_plan(db, plan_of(db, clinic, clinic.frank), progress=False)
    before = table_counts(db)
    assert resume_run(db, run.run, progress=False).state == "done"
    assert table_counts(db) == before


def test_an_unknown_run_is_bad_input(db, clinic):
    with pytest.raises(ob.UnknownRun, match="no offboarding run"):
        resume_run(db, "ob-nope", progress=False)


def test_status_lists_every_run_with_its_state(db, clinic):
    first = apply_plan(db, plan_of(db, clinic, clinic.frank), progress=False)
    second = apply_plan(db, plan_of(db, clinic, clinic.peter), progress=False)
    undo_run(db, first.run, actor=clinic.ops, progress=False)
    runs = [r.to_dict() for r in ob.list_runs(db)]
    assert [(r["run"], r["state"]) for r in runs] == [
        (first.run, "undone"),
        (second.run, "done"),
    ]
    assert first.run == "ob-20260701-090000-1" and second.run == "ob-20260701-090000-2"
    assert runs[1]["deactivated"] == 1 and runs[1]["rows"] == 1


def test_a_finished_run_on_sqlite_is_in_the_database_file_not_only_its_log(
    tmp_path, sqlite_template, frozen_now
):
    # opskit lets SQLite's write-ahead log grow during a run (db.WAL_CHECKPOINT_PAGES)
    # and copies it into the database file when the run ends: a copy of the file
    # alone, as a backup tool that ignores the -wal file makes, holds the run
    path = tmp_path / "opskit.db"
    shutil.copy(sqlite_template, path)
    db = connect(f"sqlite:///{path}")
    clinic = build_clinic(db)
    run = apply_plan(db, plan_of(db, clinic, clinic.mia), resolve_checklist=True, progress=False)
    copy_url = f"sqlite:///{shutil.copy(path, tmp_path / 'copy.db')}"
    copy = connect(copy_url)
    assert [r["result"] for r in ob.run_rows(copy, run.run)] == ["deactivated", "deactivated"]
    assert member(copy, "g-summit", "mia").status == "inactive"
    copy.dispose()
    undo_run(db, run.run, actor=clinic.ops, progress=False)
    shutil.copy(path, tmp_path / "copy.db")
    copy = connect(copy_url)
    assert member(copy, "g-summit", "mia").status == "active"
    assert ob.run_summary(copy, run.run).state == "undone"
    copy.dispose()
    db.dispose()


def test_bulk_work_pauses_the_garbage_collector_and_gives_it_back_even_on_failure(
    db, clinic, monkeypatch
):
    seen = []
    real = ob_apply._drive

    def drive(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(ob_apply, "_drive", drive)
    run = apply_plan(db, plan_of(db, clinic, clinic.mia), progress=False)
    assert (seen, gc.isenabled(), run.counts["deactivated"]) == ([False], True, 2)
    with pytest.raises(BadInput):
        apply_plan(db, plan_of(db, clinic, clinic.peter), batch_size=0, progress=False)
    assert gc.isenabled()


# ------------------------------------------------------------------------------- undo


def test_undo_reactivates_exactly_the_members_the_run_changed_and_restores_settings(db, clinic):
    plan = plan_of(db, clinic, (clinic.peter, "g-harbour"), clinic.mia, (clinic.ivan, "g-harbour"))
    run = apply_plan(db, plan, resolve_checklist=True, progress=False)
    result = undo_run(db, run.run, actor=clinic.ops, progress=False)
    assert result.counts == {"reactivated": 3, "changed": 0, "unchanged": 0}
    assert member(db, "g-harbour", "peter").status == "active"
    assert member(db, "g-summit", "mia").status == "active"
    assert member(db, "g-harbour", "ivan").status == "inactive"  # blocked: never changed
    with db.read() as conn:
        profiles = (
            conn.execute(
                select(s.booking_profiles.c.directory_profile).where(
                    s.booking_profiles.c.user_id == "u-peter"
                )
            )
            .scalars()
            .all()
        )
        reminder = conn.execute(
            select(s.reminder_levels.c.name).where(s.reminder_levels.c.user_id == "u-peter")
        ).scalar_one()
    assert profiles == ["public", "public"] and reminder == "sms_and_email"
    assert open_sessions(db, "g-harbour", "peter") == 0  # sessions are not revived (R7)
    written = [e["action"] for e in events(db, run=run.run)]
    assert written.count("reactivated") == 3 and written.count("settings_restored") == 4
    assert ob.run_summary(db, run.run).state == "undone"


def test_undo_twice_changes_nothing_the_second_time(db, clinic):
    run = apply_plan(db, plan_of(db, clinic, clinic.mia), resolve_checklist=True, progress=False)
    undo_run(db, run.run, actor=clinic.ops, progress=False)
    before = table_counts(db)
    again = undo_run(db, run.run, actor=clinic.ops, progress=False)
    assert again.counts == {"reactivated": 0, "changed": 0, "unchanged": 2}
    assert table_counts(db) == before


def test_undo_leaves_alone_a_member_changed_by_someone_since_the_run(db, clinic):
    run = apply_plan(db, plan_of(db, clinic, (clinic.frank, "g-harbour")), progress=False)
    reactivate(db, clinic.frank, "g-harbour", actor=clinic.olivia)
    deactivate(db, clinic.frank, "g-harbour", actor=clinic.olivia, reason="for real")
    result = undo_run(db, run.run, actor=clinic.ops, progress=False)
    assert result.rows[0]["result"] == "unchanged"
    assert "changed by someone since" in result.rows[0]["message"]
    assert member(db, "g-harbour", "frank").status == "inactive"


def test_undo_of_a_read_only_run_lifts_read_only(db, clinic):
    run = apply_plan(
        db, plan_of(db, clinic, (clinic.frank, "g-harbour", "read_only")), progress=False
    )
    result = undo_run(db, run.run, actor=clinic.ops, progress=False)
    assert result.counts["changed"] == 1
    assert member(db, "g-harbour", "frank").read_only is False
    assert [e["action"] for e in events(db, run=run.run)] == ["access_changed", "access_changed"]


def test_undo_needs_full_access_in_every_group_the_run_changed(db, clinic):
    run = apply_plan(db, plan_of(db, clinic, clinic.mia), progress=False)
    with pytest.raises(NotAuthorized, match="Summit Physio"):
        undo_run(db, run.run, actor=clinic.olivia, progress=False)
    assert member(db, "g-harbour", "mia").status == "inactive"


def test_an_undone_run_cannot_be_resumed(db, clinic):
    run = apply_plan(db, plan_of(db, clinic, clinic.frank), progress=False)
    undo_run(db, run.run, actor=clinic.ops, progress=False)
    with pytest.raises(Refused, match="was undone"):
        resume_run(db, run.run, progress=False)
