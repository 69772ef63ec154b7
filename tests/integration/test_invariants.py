"""The invariant check: a healthy database passes; each way of corrupting it is named.

Every corruption is made by hand in SQL, the way a bug, a crash or a stray script
would leave it, and ``check_invariants`` (and ``opskit check``) must name it.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from opskit import schema as s
from opskit.audit import record
from opskit.cli import cli
from opskit.invariants import KINDS, check_invariants
from opskit.lifecycle import change_access, deactivate, reactivate
from opskit.offboard import apply_plan, plan_offboarding, undo_run
from opskit.schema import Action

T = datetime(2026, 7, 1, 9, 0, 0)


def audit_clinic_history(db) -> None:
    """The clinic scenario loads ivan as deactivated by olivia on 2026-03-01 (written
    straight into the table); give that change the event opskit would have written."""
    with db.begin() as conn:
        record(
            conn,
            at=datetime(2026, 3, 1, 12, 0, 0),
            actor_id="u-olivia",
            group_id="g-harbour",
            user_id="u-ivan",
            action=Action.DEACTIVATED,
            before={"status": "active"},
            after={"status": "inactive"},
            reason="left the practice",
        )


@pytest.fixture
def healthy(db, clinic):
    audit_clinic_history(db)
    return clinic


def sql(db, statement: str, **params) -> None:
    with db.begin() as conn:
        conn.execute(sa.text(statement), params)


def kinds(db) -> list[str]:
    return [v["kind"] for v in check_invariants(db)]


def add_run(db, run_id: str, *, state: str = "done", rows=(), options=None) -> None:
    if options is None:  # as apply_plan writes them (RunOptions)
        options = json.dumps(
            {"rows": len(rows), "resolve_checklist": False, "batch_size": 25_000}
            | {"source": "leavers.csv", "planned_at": "2026-07-01T09:00:00Z"}
        )
    with db.begin() as conn:
        conn.execute(
            s.offboard_runs.insert().values(
                run_id=run_id,
                actor_id="u-ops",
                state=state,
                options=options,
                started_at=T,
                finished_at=T if state == "done" else None,
            )
        )
        for number, (name, result) in enumerate(rows, start=1):
            conn.execute(
                s.offboard_run_rows.insert().values(
                    run_id=run_id,
                    row_no=number,
                    group_id="g-harbour",
                    user_id=f"u-{name}",
                    email=f"{name}@example.test",
                    action="deactivate",
                    result=result,
                )
            )


def add_event(db, name: str, action: Action, *, run_id: str | None = None) -> None:
    with db.begin() as conn:
        record(
            conn,
            at=T,
            actor_id="u-ops",
            group_id="g-harbour",
            user_id=f"u-{name}",
            action=action,
            run_id=run_id,
        )


# healthy ---------------------------------------------------------------------------------


def test_a_healthy_database_has_no_violations(db, healthy):
    assert check_invariants(db) == []
    deactivate(db, healthy.peter, healthy.harbour, actor=healthy.ops, reason="retired")
    reactivate(db, healthy.peter, healthy.harbour, actor=healthy.ops)
    deactivate(db, healthy.peter, healthy.harbour, actor=healthy.ops)
    change_access(db, healthy.fiona, healthy.harbour, actor=healthy.olivia, level="clinical")
    deactivate(db, healthy.fiona, healthy.harbour, actor=healthy.olivia)
    change_access(db, healthy.frank, healthy.harbour, actor=healthy.olivia, read_only=True)
    assert check_invariants(db) == []


def test_a_consistent_run_ledger_passes(db, healthy):
    # what a run that deactivated frank and found rita blocked leaves behind
    sql(
        db,
        "UPDATE memberships SET status = 'inactive', status_changed_at = :t "
        "WHERE user_id = 'u-frank'",
        t=T,
    )
    sql(db, "UPDATE sessions SET revoked_at = :t WHERE user_id = 'u-frank'", t=T)
    add_run(db, "run-1", rows=[("frank", "deactivated"), ("rita", "blocked")])
    add_event(db, "frank", Action.DEACTIVATED, run_id="run-1")
    assert check_invariants(db) == []


def test_offboarding_runs_their_undo_and_later_changes_keep_the_database_healthy(db, healthy):
    rows = [
        {"email": healthy.peter, "group": healthy.harbour},
        {"email": healthy.frank, "group": healthy.harbour},
        {"email": healthy.mia, "group": healthy.summit, "action": "read_only"},
        {"email": healthy.fiona, "group": healthy.harbour},  # blocked: Full Access
    ]
    plan = plan_offboarding(db, rows, actor=healthy.ops)
    run = apply_plan(db, plan, resolve_checklist=True, progress=False).run
    assert check_invariants(db) == []
    reactivate(db, healthy.frank, healthy.harbour, actor=healthy.ops)  # after the run
    assert check_invariants(db) == []
    undo_run(db, run, actor=healthy.ops, progress=False)
    assert check_invariants(db) == []
    second = apply_plan(db, plan_offboarding(db, rows[:3], actor=healthy.ops), progress=False)
    assert second.counts["deactivated"] == 2
    assert check_invariants(db) == []


def test_the_clinic_as_built_has_one_unaudited_change_ivans(db, clinic):
    [violation] = check_invariants(db)
    assert violation["kind"] == "status_change_unaudited"
    assert (violation["group_id"], violation["email"]) == ("g-harbour", clinic.ivan)
    assert clinic.ivan in violation["message"]


# each corruption is named ------------------------------------------------------------------


def test_an_inactive_member_with_an_open_session_is_named(db, healthy):
    sql(
        db,
        "INSERT INTO sessions (session_id, group_id, user_id, device, started_at) "
        "VALUES ('stray', 'g-harbour', 'u-ivan', 'kiosk', :t)",
        t=T,
    )
    [violation] = check_invariants(db)
    assert violation["kind"] == "open_session_while_inactive"
    assert violation["email"] == healthy.ivan
    assert "1 open session" in violation["message"]


def test_a_deactivation_without_its_event_is_named(db, healthy):
    sql(
        db,
        "UPDATE memberships SET status = 'inactive', status_changed_at = :t, "
        "status_changed_by = 'u-ops' WHERE group_id = 'g-harbour' AND user_id = 'u-frank'",
        t=T,
    )
    sql(db, "UPDATE sessions SET revoked_at = :t WHERE user_id = 'u-frank'", t=T)
    [violation] = check_invariants(db)
    assert (violation["kind"], violation["email"]) == ("status_change_unaudited", healthy.frank)


def test_a_status_that_contradicts_the_last_event_is_named(db, healthy):
    deactivate(db, healthy.peter, healthy.harbour, actor=healthy.ops)
    # a reactivation that lost its event
    sql(db, "UPDATE memberships SET status = 'active' WHERE user_id = 'u-peter'")
    [violation] = check_invariants(db)
    assert violation["kind"] == "status_disagrees_with_audit"
    assert "last status event says deactivated" in violation["message"]


def test_a_change_audited_twice_is_named(db, healthy):
    deactivate(db, healthy.peter, healthy.harbour, actor=healthy.ops)
    add_event(db, "peter", Action.DEACTIVATED)
    [violation] = check_invariants(db)
    assert (violation["kind"], violation["email"]) == ("status_event_repeated", healthy.peter)


def test_a_group_without_full_access_or_owner_is_named(db, healthy):
    sql(
        db,
        "UPDATE memberships SET access_level = 'clinical', account_owner = :no "
        "WHERE group_id = 'g-solo' AND user_id = 'u-sole'",
        no=False,
    )
    found = [(v["kind"], v["group_id"]) for v in check_invariants(db)]
    assert found == [("no_full_access_member", "g-solo"), ("no_account_owner", "g-solo")]


def test_a_group_without_an_owner_is_named(db, healthy):
    sql(db, "UPDATE memberships SET account_owner = :no WHERE user_id = 'u-olivia'", no=False)
    assert [(v["kind"], v["group_id"]) for v in check_invariants(db)] == [
        ("no_account_owner", "g-harbour")
    ]


def test_a_ledger_row_without_its_event_is_named(db, healthy):
    deactivate(db, healthy.peter, healthy.harbour, actor=healthy.ops)
    add_run(db, "run-1", rows=[("peter", "deactivated")])
    [violation] = check_invariants(db)
    assert (violation["kind"], violation["run"]) == ("run_row_unaudited", "run-1")
    assert "0 event(s) of that run" in violation["message"]


def test_a_run_event_the_ledger_does_not_record_is_named(db, healthy):
    add_run(db, "run-1", state="interrupted", rows=[("frank", None)])
    sql(
        db,
        "UPDATE memberships SET status = 'inactive', status_changed_at = :t "
        "WHERE user_id = 'u-frank'",
        t=T,
    )
    sql(db, "UPDATE sessions SET revoked_at = :t WHERE user_id = 'u-frank'", t=T)
    add_event(db, "frank", Action.DEACTIVATED, run_id="run-1")
    [violation] = check_invariants(db)
    assert (violation["kind"], violation["run"]) == ("run_event_unledgered", "run-1")


def test_a_ledger_that_disagrees_with_the_member_is_named(db, healthy):
    add_run(db, "run-1", rows=[("frank", "deactivated")])
    add_event(db, "frank", Action.DEACTIVATED, run_id="run-1")
    found = kinds(db)
    assert "run_row_disagrees_with_member" in found
    # the status check sees it too: frank is active though his last event says otherwise
    assert "status_disagrees_with_audit" in found


def test_a_member_reactivated_after_the_run_is_explained_by_the_later_event(db, healthy):
    add_run(db, "run-1", rows=[("frank", "deactivated")])
    add_event(db, "frank", Action.DEACTIVATED, run_id="run-1")
    add_event(db, "frank", Action.REACTIVATED)
    assert check_invariants(db) == []


def test_a_done_run_with_undecided_rows_is_named(db, healthy):
    add_run(db, "run-1", rows=[("frank", None)])
    [violation] = check_invariants(db)
    assert (violation["kind"], violation["run"]) == ("run_done_with_pending_rows", "run-1")


def test_a_done_run_whose_plan_rows_lack_ledger_rows_is_named(db, healthy):
    add_run(db, "run-1", rows=[("frank", "unchanged")], options='{"rows": 3}')
    [violation] = check_invariants(db)
    assert (violation["kind"], violation["run"]) == ("run_done_with_pending_rows", "run-1")
    assert "2 of its rows were never decided" in violation["message"]


def test_every_kind_is_documented_in_the_module():
    import opskit.invariants

    for kind in KINDS:
        assert f"``{kind}``" in opskit.invariants.__doc__


# opskit check ---------------------------------------------------------------------------


def test_opskit_check_exits_0_on_a_healthy_database(db_url, healthy):
    result = CliRunner().invoke(cli, ["check", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "ok: no violations" in result.output
    result = CliRunner().invoke(cli, ["check", "--db", db_url, "--format", "json"])
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])


def test_opskit_check_exits_1_and_names_each_violation(db_url, db, healthy):
    sql(db, "UPDATE memberships SET account_owner = :no WHERE user_id = 'u-olivia'", no=False)
    result = CliRunner().invoke(cli, ["check", "--db", db_url, "--format", "json"])
    assert result.exit_code == 1
    [violation] = json.loads(result.stdout)
    assert set(violation) == {"kind", "group_id", "email", "run", "message"}
    assert violation["kind"] == "no_account_owner"
    assert "1 violation(s) found" in result.stderr


# the audit table is append-only -------------------------------------------------------------


def test_the_database_refuses_to_update_an_audit_event(db, healthy):
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        sql(db, "UPDATE audit_events SET reason = 'rewritten'")
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT reason FROM audit_events")).scalar_one() == (
            "left the practice"
        )


# SQLite keeps DELETE for load --replace (the source test guards opskit's own code there)
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_refuses_to_delete_an_audit_event(db, healthy):
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        sql(db, "DELETE FROM audit_events")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        sql(db, "DELETE FROM audit_events WHERE event_id < 0")  # even when nothing matches
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one() == 1


def test_load_replace_still_replaces_a_database_with_an_audit_trail(db, healthy, tmp_path):
    # the triggers refuse UPDATE (and DELETE on PostgreSQL) of single events, but a
    # whole-database replacement (TRUNCATE on PostgreSQL, DELETE on SQLite) goes through
    from opskit.dataset import export_dataset, load_dataset

    deactivate(db, healthy.peter, healthy.harbour, actor=healthy.ops)
    export_dataset(db, tmp_path / "clinic")  # the audit trail is in the folder (docs/rules.md)
    with db.read() as conn:
        exported = conn.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one()
    reactivate(db, healthy.peter, healthy.harbour, actor=healthy.ops)
    load_dataset(db, tmp_path / "clinic", replace=True, keep_audit=False)
    with db.read() as conn:  # the reactivation's event went with the replacement
        assert conn.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one() == exported
