"""docs/rules.md 9.2: four-eyes review of bulk plans. In bound mode a plan is applied
only with an approval of exactly its content by an operator other than its maker."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from opskit import schema as s
from opskit.audit import audit_events, verify_chain
from opskit.errors import NotAuthorized, Refused
from opskit.identity import add_operator
from opskit.offboard import Plan, apply_plan, plan_offboarding
from opskit.offboard.review import approvals, approve_plan, plan_digest

from ..scenarios import email


def _bound(logins) -> None:
    """owner's login -> ops, alice -> fiona, bob -> olivia (both Full Access in Harbour)."""
    add_operator(logins.db, logins.owner, email("ops"), actor=email("ops"))
    add_operator(logins.db, logins.name("alice"), email("fiona"))
    add_operator(logins.db, logins.name("bob"), email("olivia"))


def _plan(db, *names, actor=None) -> Plan:
    return plan_offboarding(
        db, [{"email": email(n), "group": "g-harbour"} for n in names], actor=actor
    )


def _status(db, user_id: str, group_id: str = "g-harbour") -> str:
    m = s.memberships.c
    with db.read() as conn:
        return conn.execute(
            select(m.status).where(m.user_id == user_id, m.group_id == group_id)
        ).scalar_one()


def test_in_bound_mode_apply_refuses_a_plan_without_approval(clinic, logins):
    _bound(logins)
    with logins.acting("alice") as db:
        plan = _plan(db, "peter")
        with pytest.raises(Refused, match="no approval of exactly its content"):
            apply_plan(db, plan, progress=False)
    assert _status(logins.db, "u-peter") == "active"


def test_a_second_operator_approves_and_the_plan_applies(clinic, logins, tmp_path):
    _bound(logins)
    with logins.acting("alice") as db:
        path = _plan(db, "peter", "frank").save(tmp_path / "plan.json")
    with logins.acting("bob") as db:
        approved = approve_plan(db, path)
    plan = Plan.load(path)
    assert approved["plan"] == plan_digest(plan)
    assert approved["approved_by"] == email("olivia")
    with logins.acting("alice") as db:
        summary = apply_plan(db, path, progress=False)
    assert summary.state == "done"
    assert _status(logins.db, "u-peter") == _status(logins.db, "u-frank") == "inactive"
    events = audit_events(logins.db, group="g-harbour")
    approved_events = [e for e in events if e["action"] == "plan_approved"]
    assert [(e["actor"], e["email"], e["login"]) for e in approved_events] == [
        (email("olivia"), email("fiona"), logins.name("bob"))
    ]
    assert approved_events[0]["after"]["plan"] == approved["plan"]
    run_events = [e for e in events if e["run"] == summary.run]
    assert {(e["actor"], e["login"]) for e in run_events} == {
        (email("fiona"), logins.name("alice"))
    }
    assert verify_chain(logins.db)["intact"]


def test_the_maker_of_a_plan_cannot_approve_it(clinic, logins, tmp_path):
    _bound(logins)
    with logins.acting("alice") as db:
        path = _plan(db, "peter").save(tmp_path / "plan.json")
        with pytest.raises(NotAuthorized, match="made this plan"):
            approve_plan(db, path)
    assert approvals(logins.db, Plan.load(path)) == []


def test_the_approver_needs_full_access_in_every_group_the_plan_changes(clinic, logins, tmp_path):
    _bound(logins)
    # ops (the owner's login) plans mia out of Harbour and Summit
    plan = plan_offboarding(
        logins.db, [{"email": email("mia"), "group": g} for g in ("g-harbour", "g-summit")]
    )
    path = plan.save(tmp_path / "plan.json")
    # fiona: Full Access in Harbour only
    with logins.acting("alice") as db, pytest.raises(NotAuthorized, match="Summit Physio"):
        approve_plan(db, path)
    assert approvals(logins.db, plan) == []


def test_a_plan_edited_after_approval_needs_a_new_approval(clinic, logins, tmp_path):
    _bound(logins)
    with logins.acting("alice") as db:
        path = _plan(db, "peter").save(tmp_path / "plan.json")
    with logins.acting("bob") as db:
        approve_plan(db, path)
    # the reviewed plan is edited by hand: frank instead of peter
    path.write_text(path.read_text().replace(email("peter"), email("frank")))
    with (
        logins.acting("alice") as db,
        pytest.raises(Refused, match="no approval of exactly its content"),
    ):
        apply_plan(db, path, progress=False)
    assert _status(logins.db, "u-frank") == "active"


def test_an_approval_written_by_hand_for_someone_else_does_not_count(clinic, logins, tmp_path):
    """The approval's login must be mapped to its approver: a row naming olivia written
    by another login (on PostgreSQL the server writes the login) is not hers."""
    _bound(logins)
    with logins.acting("alice") as db:
        plan = _plan(db, "peter")
        row = {"plan": plan_digest(plan), "approved_by": "u-olivia", "planned_by": "u-fiona"}
        with db.begin() as conn:
            if db.dialect != "postgresql":
                row["login"] = logins.name("alice")
            from opskit.clock import now

            conn.execute(s.plan_approvals.insert().values(approved_at=now(), **row))
        with pytest.raises(Refused, match="no approval"):
            apply_plan(db, plan, progress=False)


def test_without_a_mapping_apply_needs_no_approval(clinic, db):
    plan = _plan(db, "peter", actor=email("ops"))
    assert apply_plan(db, plan, progress=False).state == "done"
