"""The real ``opskit`` command for docs/rules.md 9.1 and 9.2: whoami, operators, bound
mode's exit codes, audit verify, offboard approve, grant. Each login is a separate
process: ``JUPYTERHUB_USER`` on SQLite, its own PostgreSQL login role otherwise."""

from __future__ import annotations

import json

import sqlalchemy as sa

from .test_cli_lifecycle import assert_one_line_error, run


def opskit(logins, login, *args):
    """``opskit ARGS`` run by ``login`` (the owner's login when None)."""
    who = logins.owner if login is None else login
    env = {k: v for k, v in logins.env_of(who).items() if k == "JUPYTERHUB_USER"}
    url = logins.db_url_for(who)
    return run(*args, "--db", url, env=env)


def test_whoami_prints_login_source_and_user(clinic, logins):
    proc = opskit(logins, "alice", "whoami", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    me = json.loads(proc.stdout)
    assert me["login"] == logins.name("alice") and me["user"] is None
    assert me["source"] == ("postgresql" if logins.postgres else "jupyterhub")


def test_bound_mode_on_the_command_line(clinic, logins):
    # unbound: --actor is required (bad input)
    proc = opskit(logins, None, "deactivate", clinic.peter, "--group", "g-harbour")
    assert "--actor" in assert_one_line_error(proc, 2)
    add = opskit(logins, None, "operators", "add", logins.owner, clinic.ops, "--actor", clinic.ops)
    assert add.returncode == 0, add.stderr
    add = opskit(logins, None, "operators", "add", logins.name("alice"), clinic.fiona)
    assert add.returncode == 0, add.stderr
    listed = json.loads(opskit(logins, None, "operators", "list", "--format", "json").stdout)
    assert {r["login"]: r["user"] for r in listed} == {
        logins.owner: clinic.ops,
        logins.name("alice"): clinic.fiona,
    }
    # an unmapped login: reads, but any change is refused naming the login
    assert opskit(logins, "mallory", "users", "--group", "g-harbour").returncode == 0
    proc = opskit(logins, "mallory", "deactivate", clinic.peter, "-g", "g-harbour")
    assert logins.name("mallory") in assert_one_line_error(proc, 1)
    # alice acts as fiona: naming olivia is refused, leaving --actor out works
    proc = opskit(
        logins, "alice", "deactivate", clinic.peter, "-g", "g-harbour", "--actor", clinic.olivia
    )
    assert "names someone else" in assert_one_line_error(proc, 1)
    proc = opskit(logins, "alice", "deactivate", clinic.peter, "-g", "g-harbour")
    assert proc.returncode == 0, proc.stderr
    events = json.loads(opskit(logins, None, "audit", "--format", "json").stdout)
    assert (events[-1]["actor"], events[-1]["login"]) == (clinic.fiona, logins.name("alice"))
    # the last mapping stays; removing alice's is audited
    proc = opskit(logins, None, "operators", "remove", logins.name("alice"))
    assert proc.returncode == 0, proc.stderr
    proc = opskit(logins, None, "operators", "remove", logins.owner)
    assert "last operator" in assert_one_line_error(proc, 1)
    proc = opskit(logins, None, "operators", "add", "two words", clinic.fiona)
    assert "LOGIN" in assert_one_line_error(proc, 2)


def test_audit_verify_exits_0_when_intact_and_1_naming_the_broken_event(clinic, logins, db):
    opskit(logins, None, "deactivate", clinic.peter, "-g", "g-harbour", "--actor", clinic.ops)
    opskit(logins, None, "reactivate", clinic.peter, "-g", "g-harbour", "--actor", clinic.ops)
    proc = opskit(logins, None, "audit", "verify", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["intact"] is True
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            conn.execute(sa.text("DROP TRIGGER audit_events_no_update"))
        first = conn.execute(sa.text("SELECT min(event_id) FROM audit_events")).scalar()
        conn.execute(
            sa.text("UPDATE audit_events SET reason = 'rewritten' WHERE event_id = :i"),
            {"i": first},
        )
        if db.dialect == "postgresql":
            conn.execute(sa.text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
    proc = opskit(logins, None, "audit", "verify")
    assert f"audit chain broken at event {first}" in assert_one_line_error(proc, 1)
    check = opskit(logins, None, "check", "--format", "json")
    assert check.returncode == 1
    assert "audit_chain_broken" in {v["kind"] for v in json.loads(check.stdout)}


def test_offboard_approve_prints_the_digest_and_approver_and_apply_needs_it(
    clinic, logins, tmp_path
):
    opskit(logins, None, "operators", "add", logins.owner, clinic.ops, "--actor", clinic.ops)
    opskit(logins, None, "operators", "add", logins.name("alice"), clinic.fiona)
    opskit(logins, None, "operators", "add", logins.name("bob"), clinic.olivia)
    targets = tmp_path / "leavers.csv"
    targets.write_text(f"email,group\n{clinic.peter},g-harbour\n")
    plan = tmp_path / "plan.json"
    proc = opskit(logins, "alice", "offboard", "plan", str(targets), "--out", str(plan))
    assert proc.returncode == 0, proc.stderr
    proc = opskit(logins, "alice", "offboard", "apply", str(plan))
    assert "no approval" in assert_one_line_error(proc, 1)
    proc = opskit(logins, "alice", "offboard", "approve", str(plan))
    assert "made this plan" in assert_one_line_error(proc, 1)
    proc = opskit(logins, "bob", "offboard", "approve", str(plan), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    approved = json.loads(proc.stdout)
    assert approved["approved_by"] == clinic.olivia and len(approved["plan"]) == 64
    proc = opskit(logins, "alice", "offboard", "apply", str(plan), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows"][0]["result"] == "deactivated"


def test_grant_on_sqlite_is_bad_input_and_on_postgresql_needs_a_known_role(clinic, logins):
    proc = opskit(logins, None, "grant", "nobody_here_at_all")
    message = assert_one_line_error(proc, 2)
    assert ("no role" in message) if logins.postgres else ("PostgreSQL" in message)
