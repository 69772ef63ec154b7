"""The hand-off in bulk offboarding (docs/rules.md, "Hand-off"), on SQLite and PostgreSQL.

Harbour in the clinic scenario: peter has a0 (07-02 10:00) and a1 (07-09 10:00) ahead;
fiona and mia are the eligible successors. nina and otto are added as practitioners at
clinical with appointments at the same times as peter's.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from opskit import schema as s
from opskit.audit import audit_events
from opskit.db import connect
from opskit.errors import BadInput
from opskit.offboard import apply_plan, plan_offboarding, run_rows

from ..conftest import _truncate_all
from ..scenarios import build_clinic
from .test_handoff import add_practitioner, book, diary


def plan(db, clinic, rows, **options):
    return plan_offboarding(db, rows, actor=clinic.ops, **options)


def rows_of(db, run):
    return {r["email"]: (r["result"], r["message"]) for r in run_rows(db, run)}


@pytest.fixture
def two_leavers(db, clinic):
    """nina has appointments at the same times as peter's: two leavers, one slot each."""
    add_practitioner(db, "nina", "clinical")
    book(db, "n0", "u-nina", "2026-07-02T10:00:00")
    book(db, "n1", "u-nina", "2026-07-09T10:00:00")
    return clinic


def test_two_leavers_handed_to_one_successor_do_not_collide(db, two_leavers):
    clinic = two_leavers
    p = plan(
        db,
        clinic,
        [
            {"email": clinic.peter, "group": "g-harbour", "handoff": clinic.mia},
            {"email": "nina@example.test", "group": "g-harbour", "handoff": clinic.mia},
        ],
    )
    first, second = p.rows
    assert first.blocker is None
    assert [a["to"] for a in first.appointments] == [clinic.mia, clinic.mia]
    assert second.blocker == "no_successor"
    assert "appointment n0 at 2026-07-02T10:00:00Z cannot be placed" in second.message


def test_auto_over_two_leavers_spreads_without_double_booking(db, two_leavers):
    clinic = two_leavers
    p = plan(
        db,
        clinic,
        [{"email": clinic.peter, "group": "g-harbour"}, {"email": "nina@example.test"}],
        handoff="auto",
    )
    assert [r.blocker for r in p.rows] == [None, None]
    summary = apply_plan(db, p, progress=False)
    assert rows_of(db, summary.run)[clinic.peter][0] == "deactivated"
    owners = diary(db)
    taken = [(owners[a][0], a[1]) for a in ("a0", "a1", "n0", "n1")]
    assert {owners[a][0] for a in ("a0", "a1", "n0", "n1")} <= {"u-fiona", "u-mia"}
    # at each time the two appointments went to two different successors
    assert owners["a0"][0] != owners["n0"][0] and owners["a1"][0] != owners["n1"][0], taken
    events = [e for e in audit_events(db, run=summary.run) if e["action"].startswith("appoint")]
    assert len(events) == 4 and {e["run"] for e in events} == {summary.run}


def test_a_third_leaver_at_the_same_time_is_blocked_no_successor(db, two_leavers):
    clinic = two_leavers
    add_practitioner(db, "otto", "clinical")
    book(db, "o0", "u-otto", "2026-07-02T10:00:00")
    p = plan(
        db,
        clinic,
        [
            {"email": e, "group": "g-harbour"}
            for e in (clinic.peter, "nina@example.test", "otto@example.test")
        ],
        handoff="auto",
    )
    assert [r.blocker for r in p.rows] == [None, None, "no_successor"]
    summary = apply_plan(db, p, progress=False)
    assert rows_of(db, summary.run)["otto@example.test"][0] == "blocked"
    assert diary(db)["o0"] == ("u-otto", "booked")


def test_a_booking_made_between_plan_and_apply_makes_the_row_stale(db, clinic):
    p = plan(db, clinic, [{"email": clinic.peter, "group": "g-harbour", "handoff": clinic.mia}])
    book(db, "m1", "u-mia", "2026-07-09T10:00:00")  # mia is now busy when a1 starts
    summary = apply_plan(db, p, progress=False)
    result, message = rows_of(db, summary.run)[clinic.peter]
    assert result == "stale"
    assert "was booked at 2026-07-09T10:00:00Z since" in message
    assert diary(db)["a0"] == ("u-peter", "booked")


def test_a_new_appointment_of_the_leaver_after_planning_makes_the_row_stale(db, clinic):
    p = plan(db, clinic, [{"email": clinic.peter, "group": "g-harbour"}], handoff="cancel")
    book(db, "p9", "u-peter", "2026-08-01T10:00:00")
    summary = apply_plan(db, p, progress=False)
    result, message = rows_of(db, summary.run)[clinic.peter]
    assert result == "stale" and "1 new" in message
    assert diary(db)["p9"] == ("u-peter", "booked")


def test_an_edited_handoff_in_the_plan_file_is_stale(db, clinic):
    p = plan(db, clinic, [{"email": clinic.peter, "group": "g-harbour"}], handoff="auto")
    p.rows[0].appointments = tuple(
        {**a, "to": clinic.rita} for a in p.rows[0].appointments
    )  # the fingerprint covers the hand-off
    summary = apply_plan(db, p, progress=False)
    assert rows_of(db, summary.run)[clinic.peter][0] == "stale"


def test_bulk_cancel_cancels_in_the_rows_batch(db, clinic):
    p = plan(db, clinic, [{"email": clinic.peter, "group": "g-harbour"}], handoff="cancel")
    assert [a["outcome"] for a in p.rows[0].appointments] == ["cancelled", "cancelled"]
    summary = apply_plan(db, p, progress=False)
    assert "handed off 2 appointments" in rows_of(db, summary.run)[clinic.peter][1]
    assert diary(db)["a0"] == ("u-peter", "cancelled")
    assert diary(db)["a2"] == ("u-peter", "booked")


def test_after_a_bulk_hand_off_postgresql_plans_for_the_appointments_as_they_now_are(
    pg_migrated, frozen_now
):
    """A run that moved appointments analyses them with the rest of what it wrote, so
    the next query over the diary is not planned for the table as it was (PostgreSQL
    only: SQLite keeps no statistics between ANALYZEs that a run would make stale)."""
    _truncate_all(pg_migrated)
    db = connect(pg_migrated)
    try:
        clinic = build_clinic(db)

        def analysed():
            with db.engine.connect() as conn:
                return conn.exec_driver_sql(
                    "SELECT coalesce(last_analyze, 'epoch') FROM pg_stat_user_tables"
                    " WHERE relname = 'appointments'"
                ).scalar_one()

        before = analysed()
        p = plan(db, clinic, [{"email": clinic.peter, "group": "g-harbour"}], handoff="cancel")
        apply_plan(db, p, progress=False)
        assert diary(db)["a0"] == ("u-peter", "cancelled")
        assert analysed() > before
    finally:
        db.dispose()


def test_rows_without_handoff_leave_the_appointments(db, clinic):
    p = plan(db, clinic, [{"email": clinic.peter, "group": "g-harbour"}])
    assert p.rows[0].handoff is None and p.rows[0].appointments == ()
    apply_plan(db, p, progress=False)
    assert diary(db)["a0"] == ("u-peter", "booked")


def test_the_plan_file_keeps_the_handoff_through_save_and_load(db, clinic, tmp_path):
    from opskit.offboard import Plan

    p = plan(db, clinic, [{"email": clinic.peter, "group": "g-harbour"}], handoff="auto")
    path = p.save(tmp_path / "plan.json")
    again = Plan.load(path)
    assert again.rows[0].handoff == "auto"
    assert [dict(a) for a in again.rows[0].appointments] == [
        dict(a) for a in p.rows[0].appointments
    ]
    summary = apply_plan(db, again, progress=False)
    assert rows_of(db, summary.run)[clinic.peter][0] == "deactivated"
    with db.read() as conn:
        owner = conn.execute(
            select(s.appointments.c.practitioner_id).where(s.appointments.c.appointment_id == "a0")
        ).scalar_one()
    assert owner == "u-fiona"


def test_a_bad_handoff_in_the_input_names_its_line_and_a_named_default_is_refused(db, clinic):
    with pytest.raises(BadInput) as caught:
        plan(db, clinic, [{"email": clinic.peter, "handoff": "whoever"}])
    assert "line 1" in str(caught.value) or ":1" in str(caught.value)
    with pytest.raises(BadInput, match="--handoff"):
        plan(db, clinic, [{"email": clinic.peter}], handoff=clinic.mia)


# ---------------------------------------------------------------------------- undo


def undo_messages(result):
    return {r["email"]: r["message"] for r in result.rows}


def test_undo_gives_handed_off_appointments_back_to_their_practitioner(db, clinic):
    from opskit.offboard import undo_run

    p = plan(db, clinic, [{"email": clinic.peter, "group": "g-harbour"}], handoff="auto")
    run = apply_plan(db, p, progress=False).run
    assert diary(db)["a0"] == ("u-fiona", "booked")
    result = undo_run(db, run, actor=clinic.ops, progress=False)
    assert "gave back 2 appointments" in undo_messages(result)[clinic.peter]
    assert diary(db) == {
        "a0": ("u-peter", "booked"),
        "a1": ("u-peter", "booked"),
        "a2": ("u-peter", "booked"),
    }
    given = [e for e in audit_events(db, run=run) if (e["after"] or {}).get("given_back")]
    assert [(e["action"], e["before"]["practitioner_id"]) for e in given] == [
        ("appointment_reassigned", "u-fiona"),
        ("appointment_reassigned", "u-mia"),
    ]
    again = undo_run(db, run, actor=clinic.ops, progress=False)  # nothing twice
    assert "gave back" not in undo_messages(again)[clinic.peter]
    assert len([e for e in audit_events(db, run=run) if (e["after"] or {}).get("given_back")]) == 2


def test_undo_books_cancelled_appointments_again(db, clinic):
    from opskit.offboard import undo_run

    p = plan(db, clinic, [{"email": clinic.peter, "group": "g-harbour"}], handoff="cancel")
    run = apply_plan(db, p, progress=False).run
    undo_run(db, run, actor=clinic.ops, progress=False)
    assert diary(db)["a0"] == ("u-peter", "booked")
    assert diary(db)["a1"] == ("u-peter", "booked")


def test_undo_leaves_alone_what_changed_since_the_run_and_says_which(db, clinic):
    from opskit.offboard import undo_run

    p = plan(db, clinic, [{"email": clinic.peter, "group": "g-harbour"}], handoff="auto")
    run = apply_plan(db, p, progress=False).run
    with db.begin() as conn:  # the clinic moved a0 on again, from fiona to mia
        conn.execute(
            s.appointments.update()
            .where(s.appointments.c.appointment_id == "a0")
            .values(practitioner_id="u-mia")
        )
    book(db, "p9", "u-peter", "2026-07-09T10:00:00", group="g-summit")  # peter busy at a1
    message = undo_messages(undo_run(db, run, actor=clinic.ops, progress=False))[clinic.peter]
    assert "left alone a0 (changed since the run)" in message
    assert "a1 (its practitioner is booked at that time since)" in message
    assert diary(db)["a0"] == ("u-mia", "booked")
    assert diary(db)["a1"] == ("u-mia", "booked")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda a: [{**a[0], "starts_at": "2026-07-02T10:00:00+00:00"}, a[1]],
        lambda a: [{**a[0], "starts_at": "2026-07-02T10:00:00.000000Z"}, a[1]],
        lambda a: [{**a[0], "outcome": "moved"}, a[1]],
        lambda a: [{**a[0], "to": None}, a[1]],
        lambda a: [{**a[0], "appointment_id": 7}, a[1]],
        lambda a: [a[0], a[0], a[1]],
        lambda a: [{"appointment_id": a[0]["appointment_id"]}, a[1]],
        lambda a: "a0",
    ],
    ids=["offset", "zero-micro", "outcome", "no-successor", "id-type", "twice", "keys", "text"],
)
def test_a_hand_off_in_the_plan_file_not_as_planning_writes_it_is_stale(db, clinic, tamper):
    """Apply trusts nothing in the plan file: a row's planned moves not in the form
    planning writes them make it stale, even with a fingerprint made to match."""
    from opskit.offboard.handoff import with_handoff

    rows = [{"email": clinic.peter, "group": "g-harbour", "handoff": clinic.mia}]
    base = plan(db, clinic, [{"email": clinic.peter, "group": "g-harbour"}]).rows[0].fingerprint
    p = plan(db, clinic, rows)
    row = p.rows[0]
    row.appointments = tamper([dict(a) for a in row.appointments])
    row.fingerprint = with_handoff(base, row.handoff, row.appointments)
    summary = apply_plan(db, p, progress=False)
    result, message = rows_of(db, summary.run)[clinic.peter]
    assert result == "stale" and "not as planned" in message
    assert diary(db)["a0"] == diary(db)["a1"] == ("u-peter", "booked")
