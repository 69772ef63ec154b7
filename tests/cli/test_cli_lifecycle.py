"""The real ``opskit`` command: exit codes, one-line errors, JSON keys (docs/rules.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from opskit.cli import cli

OPSKIT = str(Path(sys.executable).with_name("opskit"))
MEMBER_KEYS = {
    "group_id",
    "group",
    "user_id",
    "email",
    "name",
    "role",
    "access_level",
    "read_only",
    "account_owner",
    "status",
    "open_sessions",
}


def run(*args, env=None):
    environment = {**os.environ, "OPSKIT_NOW": "2026-07-01T09:00:00Z"}
    environment.pop("OPSKIT_DATABASE_URL", None)
    environment.update(env or {})
    return subprocess.run(
        [OPSKIT, *args], capture_output=True, text=True, env=environment, timeout=120
    )


def assert_one_line_error(proc, code):
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr.strip()


def test_users_lists_members_with_the_contract_keys_inactive_last(db_url, clinic):
    proc = run("users", "--group", "Harbour Clinic", "--format", "json", "--db", db_url)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert set(rows[0]) >= MEMBER_KEYS
    assert [r["status"] for r in rows][-1] == "inactive"
    assert {r["email"] for r in rows if r["status"] == "inactive"} == {clinic.ivan}


def test_users_accepts_the_database_before_the_command_and_from_the_environment(db_url, clinic):
    first = run("--db", db_url, "users", "--status", "inactive", "--format", "csv")
    second = run(
        "users", "--status", "inactive", "--format", "csv", env={"OPSKIT_DATABASE_URL": db_url}
    )
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout
    assert first.stdout.splitlines()[0].startswith("group_id,group,user_id,email")
    assert len(first.stdout.splitlines()) == 2


def test_deactivate_prints_the_action_result_and_exits_0(db_url, clinic):
    proc = run(
        "deactivate", " Peter@Example.test", "--group", "g-harbour", "--actor", clinic.ops,
        "--reason", "left", "--format", "json", "--db", db_url,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["outcome"], result["sessions_revoked"], result["status"]) == (
        "deactivated",
        2,
        "inactive",
    )
    assert "checklist" in result
    again = run("deactivate", clinic.peter, "-g", "g-harbour", "--actor", clinic.ops,
                "--format", "json", "--db", db_url)  # fmt: skip
    assert again.returncode == 0
    assert json.loads(again.stdout)["outcome"] == "unchanged"


def test_deactivate_dry_run_changes_nothing(db_url, clinic):
    proc = run("deactivate", clinic.peter, "-g", "g-harbour", "--actor", clinic.ops,
               "--dry-run", "--format", "json", "--db", db_url)  # fmt: skip
    assert json.loads(proc.stdout)["dry_run"] is True
    users = json.loads(run("users", "-g", "g-harbour", "--format", "json", "--db", db_url).stdout)
    assert next(u for u in users if u["email"] == clinic.peter)["status"] == "active"


def test_a_rule_refusal_exits_1_with_one_line(db_url, clinic):
    proc = run("deactivate", clinic.fiona, "-g", "g-harbour", "--actor", clinic.ops, "--db", db_url)
    message = assert_one_line_error(proc, 1)
    assert "lower their access level first" in message


def test_a_read_only_full_access_member_is_refused_with_exit_1(db_url, clinic):
    proc = run("access", clinic.fiona, "-g", "g-harbour", "--actor", clinic.ops,
               "--read-only", "--db", db_url)  # fmt: skip
    assert "lower their access level first" in assert_one_line_error(proc, 1)


@pytest.mark.parametrize(
    "args, text",
    [
        (["deactivate", "ghost@example.test", "-g", "g-harbour", "--actor", "ops@example.test"],
         "no user with email 'ghost@example.test'"),
        (["deactivate", "peter@example.test", "-g", "Nowhere", "--actor", "ops@example.test"],
         "--group: no group with id or name 'Nowhere'"),
        (["access", "peter@example.test", "-g", "g-harbour", "--actor", "ops@example.test",
          "--level", "boss"], "--level: 'boss' is not an access level"),
        (["users", "--status", "sleeping"], "'sleeping' is not one of"),
        (["deactivate", "peter@example.test", "-g", "g-harbour"], "--actor: required"),
        (["access", "peter@example.test", "-g", "g-harbour", "--actor", "ops@example.test"],
         "say what to change"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line_naming_what_and_where(db_url, clinic, args, text):
    proc = run(*args, "--db", db_url)
    assert text in assert_one_line_error(proc, 2)


def test_sign_in_is_refused_with_exit_1_for_an_inactive_member(db_url, clinic):
    proc = run("sign-in", clinic.ivan, "-g", "g-harbour", "--device", "phone", "--db", db_url)
    assert "sign-in refused" in assert_one_line_error(proc, 1)
    ok = run("sign-in", clinic.peter, "-g", "g-harbour", "--device", "phone", "--format", "json",
             "--db", db_url)  # fmt: skip
    assert ok.returncode == 0 and json.loads(ok.stdout)["device"] == "phone"


def test_reactivate_and_audit_show_the_contract_keys(db_url, clinic):
    run("deactivate", clinic.peter, "-g", "g-harbour", "--actor", clinic.ops, "--db", db_url)
    proc = run("reactivate", clinic.peter, "-g", "g-harbour", "--actor", clinic.ops,
               "--format", "json", "--db", db_url)  # fmt: skip
    assert json.loads(proc.stdout)["outcome"] == "reactivated"
    trail = json.loads(
        run("audit", "--user", clinic.peter, "--format", "json", "--db", db_url).stdout
    )
    assert [e["action"] for e in trail] == ["deactivated", "reactivated"]
    assert {"at", "actor", "group_id", "email", "action", "run"} <= set(trail[0])


def test_a_missing_or_foreign_database_is_bad_input(tmp_path):
    missing = run("users", "--db", f"sqlite:///{tmp_path}/none.db")
    assert "does not exist" in assert_one_line_error(missing, 2)
    import sqlite3

    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.commit()
    proc = run("users", "--db", f"sqlite:///{foreign}")
    assert "is not an opskit database" in assert_one_line_error(proc, 2)
    unreachable = run("users", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    assert "cannot open" in assert_one_line_error(unreachable, 2)


def test_a_database_from_a_newer_opskit_is_refused_clearly(db_url, clinic):
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        current = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    try:
        proc = run("users", "--db", db_url)
        assert "newer opskit" in assert_one_line_error(proc, 2)
    finally:  # the PostgreSQL database is shared by the tests of this worker
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": current})
        engine.dispose()


def _commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_every_command_and_option_has_help_text():
    missing = []
    for path, command in _commands(cli):
        if not (command.help or "").strip():
            missing.append(" ".join(path))
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{' '.join(path)} {param.opts[0]}")
    assert missing == []


def test_every_data_command_accepts_db_and_format():
    for path, command in _commands(cli):
        if isinstance(command, click.Group):
            continue
        names = {p.name for p in command.params}
        assert "db_url" in names, path


# ---------------------------------------------------------------- hand-off (9.4)


def test_appointments_lists_the_contract_keys_with_status(db_url, clinic):
    proc = run("appointments", "--group", "g-harbour", "--format", "json", "--db", db_url)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["appointment_id"] for r in rows] == ["a2", "a0", "a1"]
    assert set(rows[0]) == {
        "appointment_id",
        "group_id",
        "email",
        "patient_id",
        "starts_at",
        "status",
    }
    assert {r["status"] for r in rows} == {"booked"}
    bad = run("appointments", "--from", "tomorrow", "--db", db_url)
    assert "--from" in assert_one_line_error(bad, 2)


def test_deactivate_with_handoff_adds_appointments_to_the_result(db_url, clinic):
    proc = run(
        "deactivate",
        clinic.peter,
        "--group",
        "g-harbour",
        "--actor",
        clinic.ops,
        "--handoff",
        "auto",
        "--format",
        "json",
        "--db",
        db_url,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["appointments"] == [
        {
            "appointment_id": "a0",
            "starts_at": "2026-07-02T10:00:00Z",
            "outcome": "reassigned",
            "to": clinic.fiona,
        },
        {
            "appointment_id": "a1",
            "starts_at": "2026-07-09T10:00:00Z",
            "outcome": "reassigned",
            "to": clinic.mia,
        },
    ]


def test_deactivate_refuses_a_handoff_nobody_can_take_with_exit_1(db_url, clinic):
    proc = run(
        "deactivate",
        clinic.peter,
        "--group",
        "g-harbour",
        "--actor",
        clinic.ops,
        "--handoff",
        clinic.rita,
        "--db",
        db_url,
    )
    assert "is read-only there" in assert_one_line_error(proc, 1)
    bad = run(
        "deactivate",
        clinic.peter,
        "--group",
        "g-harbour",
        "--actor",
        clinic.ops,
        "--handoff",
        "everyone",
        "--db",
        db_url,
    )
    assert "--handoff" in assert_one_line_error(bad, 2)


def test_handoff_out_writes_the_front_desk_csv_spreadsheet_safe(db_url, clinic, tmp_path, db):
    from opskit import schema as s

    with db.begin() as conn:
        conn.execute(
            s.appointments.update()
            .where(s.appointments.c.appointment_id == "a0")
            .values(patient_id="=HYPERLINK(1)")
        )
    out = tmp_path / "calls.csv"
    proc = run(
        "deactivate",
        clinic.peter,
        "--group",
        "g-harbour",
        "--actor",
        clinic.ops,
        "--handoff",
        "cancel",
        "--handoff-out",
        str(out),
        "--db",
        db_url,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().splitlines() == [
        "group_id,group,appointment_id,patient_id,starts_at,practitioner,outcome,to",
        "g-harbour,Harbour Clinic,a0,'=HYPERLINK(1),2026-07-02T10:00:00Z,"
        f"{clinic.peter},cancelled,",
        f"g-harbour,Harbour Clinic,a1,p1,2026-07-09T10:00:00Z,{clinic.peter},cancelled,",
    ]
    folder = run(
        "deactivate",
        clinic.mia,
        "--group",
        "g-harbour",
        "--actor",
        clinic.ops,
        "--handoff",
        "cancel",
        "--handoff-out",
        str(tmp_path),
        "--db",
        db_url,
    )
    assert "--handoff-out" in assert_one_line_error(folder, 2)
    no_handoff = run(
        "deactivate",
        clinic.mia,
        "--group",
        "g-harbour",
        "--actor",
        clinic.ops,
        "--handoff-out",
        str(out),
        "--db",
        db_url,
    )
    assert_one_line_error(no_handoff, 2)
