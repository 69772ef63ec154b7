"""A run killed at any instant loses nothing and applies nothing twice (docs/rules.md, apply).

The real ``opskit offboard apply`` runs as a subprocess on a synthetic database of
20,000 memberships and is killed with SIGKILL after a few batches have committed. At
that instant every member is either fully offboarded (inactive, signed out, checklist
resolved, ledger says so) or untouched; ``opskit offboard resume`` then finishes the
run, and every member ends with exactly one ``deactivated`` event.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from opskit import load_synthetic
from opskit.offboard import plan_offboarding

OPSKIT = str(Path(sys.executable).with_name("opskit"))
ENV = {**os.environ, "OPSKIT_NOW": "2026-07-01T09:00:00Z"}
ENV.pop("OPSKIT_DATABASE_URL", None)

pytestmark = pytest.mark.slow

# per membership: open sessions and settings the checklist would switch off
SETTINGS = """
       (SELECT count(*) FROM sessions s WHERE s.group_id = m.group_id
          AND s.user_id = m.user_id AND s.revoked_at IS NULL) AS open_sessions,
       (SELECT count(*) FROM booking_profiles b WHERE b.group_id = m.group_id
          AND b.user_id = m.user_id
          AND (b.directory_profile <> 'hidden' OR b.online_bookings <> 'disabled'))
     + (SELECT count(*) FROM integrations i WHERE i.group_id = m.group_id
          AND i.user_id = m.user_id AND i.enabled = TRUE)
     + (SELECT count(*) FROM credit_settings c WHERE c.group_id = m.group_id
          AND c.user_id = m.user_id AND c.auto_top_up = TRUE)
     + (SELECT count(*) FROM reminder_levels l WHERE l.group_id = m.group_id
          AND l.user_id = m.user_id) AS pending_settings
"""
BEFORE = f"SELECT m.group_id, m.user_id, {SETTINGS} FROM memberships m"
MEMBER_STATE = f"""
SELECT m.group_id, m.user_id, m.status, {SETTINGS},
       (SELECT count(*) FROM audit_events e WHERE e.group_id = m.group_id
          AND e.user_id = m.user_id AND e.action = 'deactivated') AS deactivated_events
FROM memberships m
"""
LEDGER = "SELECT group_id, user_id, result FROM offboard_run_rows WHERE run_id = :run"


def member_states(db, run_id, members):
    """The plan's members as they are now, each with its ledger result (None: the row
    has no ledger row yet, it is pending)."""
    with db.read() as conn:
        results = {
            (r.group_id, r.user_id): r.result for r in conn.execute(text(LEDGER), {"run": run_id})
        }
        states = [
            SimpleNamespace(**row._mapping, result=results.get((row.group_id, row.user_id)))
            for row in conn.execute(text(MEMBER_STATE))
            if (row.group_id, row.user_id) in members
        ]
    assert len(states) == len(members)
    return states


def assert_all_or_nothing(states, planned):
    """Each member is fully offboarded with its ledger row, or untouched and pending."""
    for row in states:
        if row.result == "deactivated":
            assert (row.status, row.open_sessions, row.pending_settings) == ("inactive", 0, 0), row
            assert row.deactivated_events == 1, row
        else:
            assert row.result is None, row
            assert row.status == "active" and row.deactivated_events == 0, row
            key = (row.group_id, row.user_id)
            assert (row.open_sessions, row.pending_settings) == planned[key], row


@pytest.fixture
def synthetic(db, frozen_now):
    load_synthetic(db, members=20_000, seed=11)
    return db


def test_a_run_killed_midway_leaves_no_member_half_offboarded_and_resume_finishes_it(
    synthetic, db_url, tmp_path
):
    db = synthetic
    with db.read() as conn:
        targets = conn.execute(
            text(
                "SELECT u.email, m.group_id FROM memberships m JOIN users u "
                "ON u.user_id = m.user_id WHERE m.status = 'active' "
                "AND m.access_level <> 'full' ORDER BY m.membership_id"
            )
        ).all()
    plan = plan_offboarding(
        db, [{"email": e, "group_id": g} for e, g in targets], actor="analyst@opskit.demo"
    )
    assert len(plan.to_apply) > 10_000
    plan_path = plan.save(tmp_path / "plan.json")
    members = {(row.group_id, row.user_id) for row in plan.to_apply}
    with db.read() as conn:
        before = {
            (r.group_id, r.user_id): (r.open_sessions, r.pending_settings)
            for r in conn.execute(text(BEFORE))
        }

    apply = subprocess.Popen(
        [OPSKIT, "offboard", "apply", str(plan_path), "--resolve-checklist",
         "--batch-size", "250", "--db", db_url, "--format", "json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV,
    )  # fmt: skip
    try:
        run_id, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline:
            with db.read() as conn:
                run_id = run_id or conn.execute(text("SELECT run_id FROM offboard_runs")).scalar()
                done = conn.execute(
                    text("SELECT count(*) FROM offboard_run_rows WHERE result = 'deactivated'")
                ).scalar_one()
            if done >= 750:  # a few batches committed, many to go
                break
            assert apply.poll() is None, apply.stderr.read().decode()
            time.sleep(0.02)
        apply.send_signal(signal.SIGKILL)
    finally:
        apply.kill()
        apply.wait()
    assert apply.returncode == -signal.SIGKILL

    states = member_states(db, run_id, members)
    pending = [s for s in states if s.result is None]
    assert pending, "the run finished before it could be killed"
    assert_all_or_nothing(states, before)

    status = subprocess.run(
        [OPSKIT, "offboard", "status", "--db", db_url, "--format", "json"],
        capture_output=True, text=True, env=ENV, timeout=120,
    )  # fmt: skip
    assert [r["state"] for r in json.loads(status.stdout)] == ["interrupted"]

    resume = subprocess.run(
        [OPSKIT, "offboard", "resume", run_id, "--db", db_url, "--format", "json"],
        capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert resume.returncode == 0, resume.stderr
    result = json.loads(resume.stdout)
    assert result["state"] == "done" and result["pending"] == 0
    assert result["deactivated"] == len(plan.to_apply)

    final = member_states(db, run_id, members)
    assert all(s.result == "deactivated" for s in final)
    assert_all_or_nothing(final, before)
    with db.read() as conn:
        duplicates = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT group_id, user_id, item FROM audit_events "
                "WHERE run_id = :run GROUP BY group_id, user_id, action, item "
                "HAVING count(*) > 1) AS twice"
            ),
            {"run": run_id},
        ).scalar_one()
    assert duplicates == 0  # no deactivation and no checklist item was applied twice


APPOINTMENTS = """
SELECT a.appointment_id, a.group_id, a.practitioner_id, a.status,
       (SELECT count(*) FROM audit_events e WHERE e.group_id = a.group_id
          AND e.user_id = a.practitioner_id AND e.action = 'appointment_cancelled'
          AND e.before LIKE '%' || a.appointment_id || '"%') AS events
FROM appointments a WHERE a.starts_at > :now
"""


def test_a_run_killed_mid_hand_off_cancels_each_members_appointments_all_or_nothing(
    synthetic, db_url, tmp_path
):
    """The hand-off rides in the row's batch: killed at any instant, a member is
    deactivated with every planned appointment cancelled (one event each) or untouched
    with every appointment booked; resume finishes it, nothing twice."""
    db = synthetic
    with db.read() as conn:
        targets = conn.execute(
            text(
                "SELECT u.email, m.group_id FROM memberships m JOIN users u "
                "ON u.user_id = m.user_id WHERE m.status = 'active' "
                "AND m.access_level <> 'full' AND m.role = 'practitioner' "
                "ORDER BY m.membership_id"
            )
        ).all()
    plan = plan_offboarding(
        db,
        [{"email": e, "group_id": g} for e, g in targets],
        actor="analyst@opskit.demo",
        handoff="cancel",
    )
    planned = {
        (row.group_id, row.user_id): {a["appointment_id"] for a in row.appointments}
        for row in plan.to_apply
    }
    assert sum(len(ids) for ids in planned.values()) > 1000
    plan_path = plan.save(tmp_path / "plan.json")

    apply = subprocess.Popen(
        [OPSKIT, "offboard", "apply", str(plan_path), "--batch-size", "100", "--db", db_url,
         "--format", "json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV,
    )  # fmt: skip
    try:
        run_id, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline:
            with db.read() as conn:
                run_id = run_id or conn.execute(text("SELECT run_id FROM offboard_runs")).scalar()
                done = conn.execute(
                    text("SELECT count(*) FROM offboard_run_rows WHERE result = 'deactivated'")
                ).scalar_one()
            if done >= 300:
                break
            assert apply.poll() is None, apply.stderr.read().decode()
            time.sleep(0.02)
        apply.send_signal(signal.SIGKILL)
    finally:
        apply.kill()
        apply.wait()

    def check(expect_all_done: bool) -> None:
        with db.read() as conn:
            results = {
                (r.group_id, r.user_id): r.result
                for r in conn.execute(text(LEDGER), {"run": run_id})
            }
            rows = conn.execute(text(APPOINTMENTS), {"now": "2026-07-01 09:00:00"}).all()
        pending = 0
        for a in rows:
            key = (a.group_id, a.practitioner_id)
            if a.appointment_id not in planned.get(key, ()):
                assert (a.status, a.events) == ("booked", 0), a
            elif results.get(key) == "deactivated":
                assert (a.status, a.events) == ("cancelled", 1), a
            else:
                pending += 1
                assert results.get(key) is None and (a.status, a.events) == ("booked", 0), a
        if expect_all_done:
            assert pending == 0
        else:
            assert pending, "the run finished before it could be killed"

    check(expect_all_done=False)
    resume = subprocess.run(
        [OPSKIT, "offboard", "resume", run_id, "--db", db_url, "--format", "json"],
        capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert resume.returncode == 0, resume.stderr
    check(expect_all_done=True)
