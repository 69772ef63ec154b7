"""Apply trusts nothing in a plan file beyond which rows to attempt (docs/rules.md, apply).

A hand-edited plan cannot make apply change a member the database would refuse: the
user is the one the database has for the row's email, and R1, R3, R4, R8 and the
fingerprint are checked again under the batch's locks, whatever the file's ``blocker``,
``user_id``, ``group_id``, ``action`` or ``access_level`` say. Scenario: tests/scenarios.py.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from opskit import offboard as ob
from opskit import schema as s
from opskit.audit import audit_events
from opskit.db import connect
from opskit.errors import BadInput
from opskit.invariants import check_invariants
from opskit.offboard import Plan, apply_plan, plan_offboarding, resume_run, undo_run

from ..conftest import _truncate_all
from ..scenarios import build_clinic


def plan_document(db, clinic, *rows):
    plan = plan_offboarding(db, [{"email": e, "group": g} for e, g in rows], actor=clinic.ops)
    return json.loads(plan.to_json())


def apply_document(db, document, tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document))
    return apply_plan(db, Plan.load(path), progress=False)


def status(db, group_id, name):
    with db.read() as conn:
        return conn.execute(
            select(s.memberships.c.status, s.memberships.c.read_only).where(
                s.memberships.c.group_id == group_id, s.memberships.c.user_id == f"u-{name}"
            )
        ).one()


def violations(db):
    """Invariant violations, less the scenario's own: ivan was made inactive outside opskit."""
    return [v for v in check_invariants(db) if v["email"] != "ivan@example.test"]


def ledger(db, run):
    return [(r["email"], r["user_id"], r["result"], r["message"]) for r in ob.run_rows(db, run)]


def test_a_full_access_row_whose_blocker_was_removed_is_still_refused_by_r3(db, clinic, tmp_path):
    document = plan_document(db, clinic, (clinic.fiona, "g-harbour"))
    [row] = document["rows"]
    assert row["blocker"] == "full_access" and row["fingerprint"]
    row["blocker"] = row["message"] = None
    run = apply_document(db, document, tmp_path)
    assert tuple(status(db, "g-harbour", "fiona")) == ("active", False)
    assert ledger(db, run.run) == [
        (
            clinic.fiona,
            "u-fiona",
            "blocked",
            f"{clinic.fiona} has Full Access in Harbour Clinic and cannot be deactivated; "
            "lower their access level first",
        )
    ]
    assert audit_events(db, run=run.run) == []
    assert violations(db) == []


def test_a_full_access_row_turned_read_only_is_still_refused_by_r8(db, clinic, tmp_path):
    document = plan_document(db, clinic, (clinic.fiona, "g-harbour"))
    [row] = document["rows"]
    row.update(blocker=None, message=None, action="read_only", access_level="clinical")
    run = apply_document(db, document, tmp_path)
    assert tuple(status(db, "g-harbour", "fiona")) == ("active", False)
    [(_, _, result, message)] = ledger(db, run.run)
    assert result == "blocked" and "cannot be made read-only" in message


def test_a_row_given_another_members_user_id_and_fingerprint_changes_nobody(db, clinic, tmp_path):
    document = plan_document(db, clinic, (clinic.peter, "g-harbour"))
    [mia] = plan_document(db, clinic, (clinic.mia, "g-harbour"))["rows"]
    [row] = document["rows"]
    row.update(user_id="u-mia", fingerprint=mia["fingerprint"])
    run = apply_document(db, document, tmp_path)
    assert status(db, "g-harbour", "mia").status == "active"
    assert status(db, "g-harbour", "peter").status == "active"
    assert ledger(db, run.run) == [
        (
            clinic.peter,
            "u-peter",
            "stale",
            f"user_id 'u-mia' is not the user of {clinic.peter}; plan again",
        )
    ]
    assert audit_events(db, run=run.run) == []


def test_a_row_whose_email_was_swapped_for_a_full_access_members_is_refused(db, clinic, tmp_path):
    document = plan_document(db, clinic, (clinic.peter, "g-harbour"))
    [fiona] = plan_document(db, clinic, (clinic.fiona, "g-harbour"))["rows"]
    [row] = document["rows"]
    row.update(email=clinic.fiona, user_id=None, fingerprint=fiona["fingerprint"])
    run = apply_document(db, document, tmp_path)
    assert status(db, "g-harbour", "fiona").status == "active"
    assert status(db, "g-harbour", "peter").status == "active"
    [(email, user_id, result, _)] = ledger(db, run.run)
    assert (email, user_id, result) == (clinic.fiona, "u-fiona", "blocked")


def test_a_row_whose_group_was_swapped_to_one_the_actor_may_not_manage_is_refused_by_r1(
    db, clinic, tmp_path
):
    document = plan_document(db, clinic, (clinic.sole, "g-solo"))
    [row] = document["rows"]
    assert row["blocker"] == "not_authorised"
    row.update(blocker=None, message=None)
    run = apply_document(db, document, tmp_path)
    assert status(db, "g-solo", "sole").status == "active"
    [(_, _, result, message)] = ledger(db, run.run)
    assert result == "blocked" and message.startswith("not authorised at apply time")


def test_a_row_moved_to_a_group_the_member_is_not_in_is_stale(db, clinic, tmp_path):
    document = plan_document(db, clinic, (clinic.peter, "g-harbour"))
    [row] = document["rows"]
    row["group_id"] = "g-summit"
    run = apply_document(db, document, tmp_path)
    assert status(db, "g-harbour", "peter").status == "active"
    [(_, _, result, message)] = ledger(db, run.run)
    assert (result, message) == ("stale", f"{clinic.peter} is not a member of Summit Physio")


def test_a_would_lock_out_row_whose_blocker_was_removed_is_refused_by_r4(db, clinic, tmp_path):
    with db.begin() as conn:  # the owner left outside opskit: Harbour is locked already
        conn.execute(
            update(s.memberships)
            .where(s.memberships.c.user_id == "u-olivia")
            .values(status="inactive")
        )
    document = plan_document(db, clinic, (clinic.peter, "g-harbour"))
    [row] = document["rows"]
    assert row["blocker"] == "would_lock_out"
    row.update(blocker=None, message=None)
    run = apply_document(db, document, tmp_path)
    assert status(db, "g-harbour", "peter").status == "active"
    [(_, _, result, message)] = ledger(db, run.run)
    assert result == "blocked" and "no active account owner" in message


def test_an_already_inactive_row_whose_blocker_was_removed_is_unchanged(db, clinic, tmp_path):
    document = plan_document(db, clinic, (clinic.ivan, "g-harbour"))
    [row] = document["rows"]
    row.update(blocker=None, message=None)
    run = apply_document(db, document, tmp_path)
    [(_, _, result, _)] = ledger(db, run.run)
    assert result == "unchanged" and audit_events(db, run=run.run) == []


@pytest.mark.parametrize("number", [1e30, 2**31, -1, 10**40, 1.5, "Infinity"])
def test_a_plan_row_number_out_of_range_is_bad_input_naming_the_row(db, clinic, tmp_path, number):
    document = plan_document(db, clinic, (clinic.peter, "g-harbour"))
    text = json.dumps(document).replace(
        '"row": 1,', f'"row": {number},'.replace('"Infinity"', "Infinity")
    )
    path = tmp_path / "plan.json"
    path.write_text(text)
    with pytest.raises(BadInput) as error:
        Plan.load(path)
    assert "rows[0]" in str(error.value)
    assert status(db, "g-harbour", "peter").status == "active"


def test_resume_checks_the_stored_plan_again_from_the_database(db, clinic, monkeypatch):
    """A run's stored plan is no more trusted than the file: resume re-checks R3."""
    plan = plan_offboarding(db, [{"email": clinic.peter, "group": "g-harbour"}], actor=clinic.ops)
    [row] = plan.rows
    calls = {"n": 0}
    real = ob.apply._process

    def die_first(db_, ctx, numbers):
        calls["n"] += 1
        raise KeyboardInterrupt

    monkeypatch.setattr(ob.apply, "_process", die_first)
    with pytest.raises(KeyboardInterrupt):
        apply_plan(db, plan, progress=False)
    monkeypatch.setattr(ob.apply, "_process", real)
    from opskit.lifecycle import change_access

    change_access(db, clinic.peter, group="g-harbour", actor=clinic.olivia, level="full")
    [summary] = ob.list_runs(db)
    resumed = resume_run(db, summary.run, progress=False)
    assert resumed.state == "done"
    assert status(db, "g-harbour", "peter").status == "active"
    [(_, _, result, _)] = ledger(db, summary.run)
    assert result in ("blocked", "stale")


def test_undo_reactivates_only_members_the_run_changed_whatever_the_file_said(db, clinic, tmp_path):
    document = plan_document(db, clinic, (clinic.peter, "g-harbour"), (clinic.fiona, "g-harbour"))
    for row in document["rows"]:
        row.update(blocker=None, message=None)
    run = apply_document(db, document, tmp_path)
    undone = undo_run(db, run.run, actor=clinic.ops, progress=False)
    assert [(r["email"], r["result"]) for r in undone.rows] == [(clinic.peter, "reactivated")]
    assert status(db, "g-harbour", "fiona").status == "active"
    assert violations(db) == []


# ---------------------------------------------------------------- random edits (hypothesis)

PROFILE = os.environ.get("OPSKIT_HYPOTHESIS_PROFILE", "suite")
EXAMPLES = 200 if PROFILE == "stress" else 12

EVERY_MEMBER = [
    (name, group)
    for group, names in {
        "g-harbour": ["olivia", "fiona", "ops", "peter", "rita", "ivan", "frank", "mia"],
        "g-summit": ["sam", "mia", "ops"],
        "g-solo": ["sole", "ops"],
    }.items()
    for name in names
]

_FIELDS = ["email", "user_id", "group_id", "action", "blocker", "fingerprint", "access_level"]


@st.composite
def edits(draw):
    """Per plan row, a few fields replaced by values from other rows (or null)."""
    n = len(EVERY_MEMBER)
    return [
        [
            (field, draw(st.integers(0, n)))  # n: null (or the default action)
            for field in draw(st.lists(st.sampled_from(_FIELDS), max_size=4, unique=True))
        ]
        for _ in range(n)
    ]


def _fresh(db_url, sqlite_template):
    if db_url.startswith("sqlite"):
        shutil.copy(sqlite_template, db_url.removeprefix("sqlite:///"))
    else:
        _truncate_all(db_url)
    db = connect(db_url)
    return db, build_clinic(db)


def _allowed_before(db):
    """(group, user) the database would let ops deactivate or make read-only now."""
    with db.read() as conn:
        m = s.memberships.c
        managed = {
            g
            for g, level, st_, ro in conn.execute(
                select(m.group_id, m.access_level, m.status, m.read_only).where(
                    m.user_id == "u-ops"
                )
            )
            if level == "full" and st_ == "active" and not ro
        }
        return {
            (g, u)
            for g, u, level in conn.execute(select(m.group_id, m.user_id, m.access_level))
            if g in managed and level != "full"
        }


@given(changes=edits())
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_random_edits_of_plan_rows_never_change_a_member_the_database_would_refuse(
    db_url, sqlite_template, frozen_now, tmp_path, changes
):
    db, clinic = _fresh(db_url, sqlite_template)
    try:
        allowed = _allowed_before(db)
        document = plan_document(db, clinic, *((f"{n}@example.test", g) for n, g in EVERY_MEMBER))
        originals = [dict(row) for row in document["rows"]]
        for row, fields in zip(document["rows"], changes, strict=True):
            for field, source in fields:
                if source == len(originals):
                    row[field] = "deactivate" if field == "action" else None
                else:
                    row[field] = originals[source][field]
            row["email"] = row["email"] or "nobody@example.test"
        path = tmp_path / "plan.json"
        path.write_text(json.dumps(document))
        try:
            plan = Plan.load(path)
        except BadInput:
            return  # a row to apply lacking group_id or fingerprint: refused whole
        run = apply_plan(db, plan, progress=False)
        changed = {(e["group_id"], e["email"].split("@")[0]) for e in audit_events(db, run=run.run)}
        assert {(g, f"u-{n}") for g, n in changed} <= allowed
        for r in ob.run_rows(db, run.run):
            if r["result"] in ("deactivated", "read_only"):
                assert r["user_id"] == "u-" + r["email"].split("@")[0]
        assert violations(db) == []
    finally:
        db.dispose()
