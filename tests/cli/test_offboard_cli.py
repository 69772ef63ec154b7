"""The real ``opskit offboard`` command on both backends: exit codes, one-line errors,
the contract's JSON keys (docs/rules.md "Interface contract")."""

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
LEAVERS = (
    "\ufeffEmail ; GROUP ; Reason\r\n"
    ' Peter@Example.test ; Harbour Clinic ; "moved; abroad"\r\n'
    "\r\n"
    "mia@example.test;;\r\n"
    "fiona@example.test;g-harbour;\r\n"
    "nobody@example.test;;\r\n"
    "peter@example.test;g-harbour;again\r\n"
)


def run(*args, env=None):
    environment = {**os.environ, "OPSKIT_NOW": "2026-07-01T09:00:00Z"}
    environment.pop("OPSKIT_DATABASE_URL", None)
    environment.update(env or {})
    return subprocess.run(
        [OPSKIT, *args], capture_output=True, text=True, env=environment, timeout=120
    )


def ok_json(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def one_line_error(proc, code):
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr.strip()


@pytest.fixture
def leavers(tmp_path):
    path = tmp_path / "leavers.csv"
    path.write_bytes(LEAVERS.encode("utf-8"))
    return path


def plan(db_url, clinic, source, out, *extra):
    return run(
        "offboard", "plan", str(source), "--actor", clinic.ops, "--out", str(out),
        "--db", db_url, *extra,
    )  # fmt: skip


def test_plan_writes_the_plan_file_and_prints_rows_with_the_contract_keys(
    db_url, clinic, leavers, tmp_path
):
    out = tmp_path / "plan.json"
    document = ok_json(plan(db_url, clinic, leavers, out, "--format", "json"))
    assert json.loads(out.read_text())["rows"] == document["rows"]
    rows = document["rows"]
    assert {"group_id", "email", "action", "blocker"} <= set(rows[0])
    assert [(r["email"], r["group_id"], r["blocker"]) for r in rows] == [
        (clinic.peter, "g-harbour", None),
        (clinic.mia, "g-harbour", None),
        (clinic.mia, "g-summit", None),
        (clinic.fiona, "g-harbour", "full_access"),
        ("nobody@example.test", None, "not_found"),
        (clinic.peter, "g-harbour", "duplicate"),
    ]
    assert rows[0]["reason"] == "moved; abroad"


def test_plan_as_a_table_and_as_csv(db_url, clinic, leavers, tmp_path):
    table = plan(db_url, clinic, leavers, tmp_path / "a.json")
    assert table.returncode == 0, table.stderr
    assert "Deactivate 3 memberships: 2 members in 2 groups (3 rows blocked)" in table.stdout
    csv_out = plan(db_url, clinic, leavers, tmp_path / "b.json", "--format", "csv")
    assert csv_out.stdout.splitlines()[0].startswith("row,line,group_id,group,email")


def test_plan_table_shows_each_rows_handoff(db_url, clinic, tmp_path):
    source = tmp_path / "leavers.csv"
    source.write_text(
        f"email,group,handoff\n{clinic.peter},g-harbour,\n{clinic.mia},g-summit,cancel\n"
    )
    table = plan(db_url, clinic, source, tmp_path / "p.json", "--handoff", "auto")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    header = next(line for line in lines if line.split()[:2] == ["row", "line"])
    assert header.split().index("handoff") == header.split().index("action") + 1
    peter = next(line for line in lines if clinic.peter in line)
    mia = next(line for line in lines if clinic.mia in line)
    assert peter.split()[peter.split().index("deactivate") + 1] == "auto"
    assert mia.split()[mia.split().index("deactivate") + 1] == "cancel"


def test_plan_of_a_file_without_an_email_column_is_exit_2_naming_file_line_column(
    db_url, clinic, tmp_path
):
    source = tmp_path / "bad.csv"
    source.write_text("name;group\nPeter;g-harbour\n")
    message = one_line_error(plan(db_url, clinic, source, tmp_path / "p.json"), 2)
    assert f"{source}:1, column email" in message
    assert not (tmp_path / "p.json").exists()


def test_plan_of_a_file_that_is_not_text_is_exit_2(db_url, clinic, tmp_path):
    source = tmp_path / "sheet.xlsx"
    source.write_bytes(b"PK\x03\x04\x00\x14\x00binary")
    assert "not a text file" in one_line_error(plan(db_url, clinic, source, tmp_path / "p"), 2)


def test_plan_with_a_bad_action_value_is_exit_2_naming_line_and_column(db_url, clinic, tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text("email,action\npeter@example.test,fire\n")
    message = one_line_error(plan(db_url, clinic, source, tmp_path / "p.json"), 2)
    assert f"{source}:2, column action" in message


def test_plan_reads_the_csv_from_standard_input(db_url, clinic, tmp_path):
    proc = subprocess.run(
        [OPSKIT, "offboard", "plan", "-", "--actor", clinic.ops, "--out", str(tmp_path / "p"),
         "--db", db_url, "--format", "json"],
        input=b"email\nfrank@example.test\n",
        capture_output=True,
        env={**os.environ, "OPSKIT_NOW": "2026-07-01T09:00:00Z"},
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["source"] == "stdin"


def test_apply_prints_the_run_and_a_result_per_row(db_url, clinic, leavers, tmp_path):
    out = tmp_path / "plan.json"
    plan(db_url, clinic, leavers, out)
    result = ok_json(
        run(
            "offboard", "apply", str(out), "--resolve-checklist", "--db", db_url, "--format", "json"
        )
    )
    assert result["run"] == "ob-20260701-090000-1"
    assert [r["result"] for r in result["rows"]] == [
        "deactivated",
        "deactivated",
        "deactivated",
        "blocked",
        "blocked",
        "blocked",
    ]
    users = ok_json(run("users", "--group", "g-harbour", "--format", "json", "--db", db_url))
    assert {u["email"]: u["status"] for u in users}[clinic.peter] == "inactive"
    audit = ok_json(run("audit", "--run", result["run"], "--format", "json", "--db", db_url))
    assert sum(e["action"] == "deactivated" for e in audit) == 3
    assert {e["run"] for e in audit} == {result["run"]}


def test_status_lists_runs_and_shows_one_run_with_its_rows(db_url, clinic, leavers, tmp_path):
    out = tmp_path / "plan.json"
    plan(db_url, clinic, leavers, out)
    applied = ok_json(run("offboard", "apply", str(out), "--db", db_url, "--format", "json"))
    runs = ok_json(run("offboard", "status", "--db", db_url, "--format", "json"))
    assert [(r["run"], r["state"]) for r in runs] == [(applied["run"], "done")]
    one = ok_json(run("offboard", "status", applied["run"], "--db", db_url, "--format", "json"))
    assert one["rows"] == applied["rows"]
    table = run("offboard", "status", "--db", db_url)
    assert table.returncode == 0 and applied["run"] in table.stdout


def test_resume_of_a_finished_run_succeeds_and_changes_nothing(db_url, clinic, leavers, tmp_path):
    out = tmp_path / "plan.json"
    plan(db_url, clinic, leavers, out)
    applied = ok_json(run("offboard", "apply", str(out), "--db", db_url, "--format", "json"))
    resumed = ok_json(run("offboard", "resume", applied["run"], "--db", db_url, "--format", "json"))
    assert resumed["rows"] == applied["rows"] and resumed["state"] == "done"


def test_undo_reactivates_and_a_second_undo_is_unchanged(db_url, clinic, leavers, tmp_path):
    out = tmp_path / "plan.json"
    plan(db_url, clinic, leavers, out)
    applied = ok_json(run("offboard", "apply", str(out), "--db", db_url, "--format", "json"))
    undo = ("offboard", "undo", applied["run"], "--actor", clinic.ops, "--db", db_url)
    first = ok_json(run(*undo, "--format", "json"))
    assert (first["state"], first["reactivated"]) == ("undone", 3)
    second = ok_json(run(*undo, "--format", "json"))
    assert {r["result"] for r in second["rows"]} == {"unchanged"}


def test_undo_by_someone_without_full_access_is_refused_with_exit_1(
    db_url, clinic, leavers, tmp_path
):
    out = tmp_path / "plan.json"
    plan(db_url, clinic, leavers, out)
    applied = ok_json(run("offboard", "apply", str(out), "--db", db_url, "--format", "json"))
    proc = run("offboard", "undo", applied["run"], "--actor", clinic.frank, "--db", db_url)
    assert "may not undo" in one_line_error(proc, 1)


def test_an_unknown_run_is_exit_2(db_url, clinic):
    assert "no offboarding run" in one_line_error(
        run("offboard", "status", "ob-nope", "--db", db_url), 2
    )


def test_a_missing_or_broken_plan_file_is_exit_2(db_url, clinic, tmp_path):
    missing = run("offboard", "apply", str(tmp_path / "none.json"), "--db", db_url)
    assert "no such plan file" in one_line_error(missing, 2)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "not a plan file" in one_line_error(
        run("offboard", "apply", str(broken), "--db", db_url), 2
    )


def test_every_offboard_command_has_help_text():
    group = cli.commands["offboard"]
    assert group.help
    for name in ("plan", "apply", "resume", "status", "undo"):
        command = group.commands[name]
        assert command.help, name
        ctx = click.Context(command)
        assert "--db" in command.get_help(ctx) and "--format" in command.get_help(ctx)


def test_apply_handoff_out_writes_the_front_desk_csv_of_what_the_run_handed_off(
    db_url, clinic, db, tmp_path
):
    """Hand-off, for the front desk: the affected patients and times of a bulk run,
    spreadsheet-safe, from what the run made (peter's a0 and a1 go to mia)."""
    from opskit import schema as s

    with db.begin() as conn:
        conn.execute(
            s.appointments.update()
            .where(s.appointments.c.appointment_id == "a0")
            .values(patient_id="=HYPERLINK(1)")
        )
    source = tmp_path / "leavers.csv"
    source.write_text(f"email,group,handoff\n{clinic.peter},g-harbour,{clinic.mia}\n")
    planned = tmp_path / "plan.json"
    assert plan(db_url, clinic, source, planned).returncode == 0
    out = tmp_path / "calls.csv"
    applied = ok_json(
        run("offboard", "apply", str(planned), "--handoff-out", str(out), "--db", db_url,
            "--format", "json")
    )  # fmt: skip
    assert [r["result"] for r in applied["rows"]] == ["deactivated"]
    assert out.read_text().splitlines() == [
        "group_id,group,appointment_id,patient_id,starts_at,practitioner,outcome,to",
        "g-harbour,Harbour Clinic,a0,'=HYPERLINK(1),2026-07-02T10:00:00Z,"
        f"{clinic.peter},reassigned,{clinic.mia}",
        f"g-harbour,Harbour Clinic,a1,p1,2026-07-09T10:00:00Z,{clinic.peter},reassigned,"
        f"{clinic.mia}",
    ]


def test_apply_handoff_out_without_handoff_rows_writes_only_the_header(db_url, clinic, tmp_path):
    source = tmp_path / "leavers.csv"
    source.write_text(f"email,group\n{clinic.peter},g-harbour\n")
    planned = tmp_path / "plan.json"
    assert plan(db_url, clinic, source, planned).returncode == 0
    out = tmp_path / "calls.csv"
    ok_json(run("offboard", "apply", str(planned), "--handoff-out", str(out), "--db", db_url,
                "--format", "json"))  # fmt: skip
    assert out.read_text().splitlines() == [
        "group_id,group,appointment_id,patient_id,starts_at,practitioner,outcome,to"
    ]


def test_apply_handoff_out_to_a_folder_or_the_database_is_exit_2_and_applies_nothing(
    db_url, clinic, tmp_path
):
    source = tmp_path / "leavers.csv"
    source.write_text(f"email,group,handoff\n{clinic.peter},g-harbour,cancel\n")
    planned = tmp_path / "plan.json"
    assert plan(db_url, clinic, source, planned).returncode == 0
    refused = [tmp_path]
    if db_url.startswith("sqlite:///"):
        refused.append(Path(db_url.removeprefix("sqlite:///")))
    for target in refused:
        proc = run("offboard", "apply", str(planned), "--handoff-out", str(target), "--db", db_url)
        assert "--handoff-out" in one_line_error(proc, 2)
    runs = ok_json(run("offboard", "status", "--db", db_url, "--format", "json"))
    assert runs == []
    appointments = ok_json(
        run("appointments", "--user", clinic.peter, "--format", "json", "--db", db_url)
    )
    assert {a["status"] for a in appointments} == {"booked"}
