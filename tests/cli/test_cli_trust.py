"""Issue 16 as a user meets it: odd arguments and environments exit 0, 1 or 2 with one
line, ``--out`` never overwrites the database, CSV for people is spreadsheet-safe while
the dataset folder stays verbatim. The real command, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from opskit import schema as s
from opskit.cli._common import check_out_path
from opskit.errors import BadInput
from opskit.lifecycle import deactivate

OPSKIT = str(Path(sys.executable).with_name("opskit"))
NOW = "2026-07-01T09:00:00Z"


def run(*args, **env):
    environment = {**os.environ, "OPSKIT_NOW": NOW, **env}
    environment.pop("OPSKIT_DATABASE_URL", None)
    return subprocess.run(
        [OPSKIT, *args], capture_output=True, text=True, env=environment, timeout=120
    )


def one_line_error(proc, code) -> str:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr.strip()


def sqlite_file(db_url):
    return Path(db_url.removeprefix("sqlite:///"))


def member_count(db):
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(s.memberships)).scalar_one()


# ------------------------------------------------------------------ odd cases, exit 0/1/2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("report", "dormant", "--out", "/nonexistent/x.csv"), "No such file or directory"),
        (("report", "dormant", "--out", "/dev/full"), "No space left on device"),
        (("report", "dormant", "--days", "99999999"), "99999999"),
        (("export", "/proc/x"), "/proc/x"),
    ],
)
def test_odd_arguments_exit_2_with_one_line(db_url, clinic, args, words):
    assert words in one_line_error(run(*args, "--db", db_url), 2)


@pytest.mark.parametrize("days", ["0", "36500"])
def test_the_days_of_the_dormant_report_are_taken_up_to_a_hundred_years(db_url, clinic, days):
    assert run("report", "dormant", "--days", days, "--db", db_url).returncode == 0


def test_a_clock_in_the_year_1_is_bad_input_naming_opskit_now(db_url, clinic):
    proc = run("report", "dormant", "--db", db_url, OPSKIT_NOW="0001-01-01T00:00:00Z")
    assert one_line_error(proc, 2).startswith("opskit: OPSKIT_NOW: ")


def test_a_bad_lock_timeout_is_bad_input_naming_the_variable(db_url, clinic):
    proc = run("users", "--db", db_url, OPSKIT_LOCK_TIMEOUT="soon")
    assert one_line_error(proc, 2).startswith("opskit: OPSKIT_LOCK_TIMEOUT: ")


def test_out_refuses_the_database_file_and_leaves_it_intact(db, db_url, clinic, tmp_path):
    if db.dialect == "sqlite":
        target = str(sqlite_file(db_url))
        error = one_line_error(run("report", "dormant", "--out", target, "--db", db_url), 2)
        assert "is the database file" in error
        plan = run(
            "offboard", "plan", "-", "--actor", clinic.ops, "--out", target + "-wal", "--db", db_url
        )
        assert "is the database file" in one_line_error(plan, 2)
    assert member_count(db) == 13


def test_out_refuses_a_path_inside_the_dataset_folder_being_read(tmp_path):
    folder = tmp_path / "dataset"
    folder.mkdir()
    with pytest.raises(BadInput, match="is inside the folder .* being read"):
        check_out_path(folder / "sub" / ".." / "notes.csv", None, reading=[folder])
    assert check_out_path(tmp_path / "notes.csv", None, reading=[folder]) == tmp_path / "notes.csv"


def test_offboard_plan_refuses_to_write_its_plan_over_the_csv_it_reads(
    db, db_url, clinic, tmp_path
):
    source = tmp_path / "leavers.csv"
    source.write_text(f"email,group\n{clinic.peter},g-harbour\n")
    linked = tmp_path / "linked.csv"
    os.link(source, linked)
    for out in (source, tmp_path / "." / "leavers.csv", linked):
        proc = run(
            "offboard",
            "plan",
            str(source),
            "--actor",
            clinic.ops,
            "--out",
            str(out),
            "--db",
            db_url,
        )
        error = one_line_error(proc, 2)
        assert error == (
            f"opskit: {out}: is the file {str(source)!r} being read; choose another --out"
        )
    assert source.read_text() == f"email,group\n{clinic.peter},g-harbour\n"


def test_offboard_apply_refuses_to_write_the_front_desk_csv_over_its_plan(
    db, db_url, clinic, tmp_path
):
    source = tmp_path / "leavers.csv"
    source.write_text(f"email,group,handoff\n{clinic.peter},g-harbour,cancel\n")
    planned = tmp_path / "plan.json"
    made = run(
        "offboard",
        "plan",
        str(source),
        "--actor",
        clinic.ops,
        "--out",
        str(planned),
        "--db",
        db_url,
    )
    assert made.returncode == 0, made.stderr
    before = planned.read_bytes()
    proc = run("offboard", "apply", str(planned), "--handoff-out", str(planned), "--db", db_url)
    assert "being read; choose another --handoff-out" in one_line_error(proc, 2)
    assert planned.read_bytes() == before
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(s.offboard_runs)).scalar_one() == 0


def test_handoff_out_refuses_a_folder_and_the_databases_journal_files(db, db_url, clinic, tmp_path):
    refused = {str(tmp_path): "is a folder; give a file name for --handoff-out"}
    if db.dialect == "sqlite":  # the -wal and -shm files are the database too
        for journal in ("-wal", "-shm"):
            target = str(sqlite_file(db_url)) + journal
            refused[target] = "is the database file; choose another --handoff-out"
    for target, words in refused.items():
        proc = run(
            "deactivate", clinic.peter, "--group", "g-harbour", "--actor", clinic.ops,
            "--handoff", "cancel", "--handoff-out", target, "--db", db_url,
        )  # fmt: skip
        assert one_line_error(proc, 2) == f"opskit: {target}: {words}"
    with db.read() as conn:
        status = conn.execute(
            select(s.memberships.c.status).where(
                s.memberships.c.group_id == "g-harbour",
                s.memberships.c.user_id == "u-peter",
            )
        ).scalar_one()
    assert status == "active"


def test_review_dormant_out_refuses_the_database_a_folder_and_a_missing_folder(
    db, db_url, clinic, tmp_path
):
    refused = {
        str(tmp_path): "is a directory",  # click's own check of --out
        str(tmp_path / "nowhere" / "plan.json"): "No such file or directory",
    }
    if db.dialect == "sqlite":
        refused[str(sqlite_file(db_url))] = "is the database file; choose another --out"
    for target, words in refused.items():
        proc = run("review", "dormant", "--actor", clinic.ops, "--out", target, "--db", db_url)
        assert words in one_line_error(proc, 2)
    assert member_count(db) == 13
    assert not (tmp_path / "nowhere").exists()


def test_a_plan_row_numbered_1e30_is_bad_input_and_leaves_no_run(db, db_url, clinic, tmp_path):
    csv_path = tmp_path / "leavers.csv"
    csv_path.write_text(f"email,group\n{clinic.peter},g-harbour\n")
    plan = tmp_path / "plan.json"
    assert (
        run(
            "offboard",
            "plan",
            str(csv_path),
            "--actor",
            clinic.ops,
            "--out",
            str(plan),
            "--db",
            db_url,
        ).returncode
        == 0
    )
    document = json.loads(plan.read_text()) if plan.read_text().startswith("{\n") else None
    text = plan.read_text().replace('"row": 1,', '"row": 1e30,').replace("[1,", "[1e30,")
    plan.write_text(text)
    assert document is None or '"row": 1e30' in text or "[1e30," in text
    error = one_line_error(run("offboard", "apply", str(plan), "--db", db_url), 2)
    assert "row number" in error and "out of range" in error
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(s.offboard_runs)).scalar_one() == 0


def test_load_replace_that_would_drop_audit_events_exits_1_saying_how_many(
    db, db_url, clinic, tmp_path
):
    folder = tmp_path / "out"
    assert run("export", str(folder), "--db", db_url).returncode == 0
    deactivate(db, clinic.peter, "g-harbour", actor=clinic.ops)
    error = one_line_error(run("load", str(folder), "--replace", "--db", db_url), 1)
    assert "--replace would drop 1 audit event the dataset folder does not hold" in error
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(s.audit_events)).scalar_one() == 1


# ------------------------------------------------------------------ spreadsheet-safe CSV

HOSTILE = [
    '=HYPERLINK("http://x.test","click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\tTab",
    "\rReturn",
    "Plain = fine",
]


def rename(db, names):
    with db.begin() as conn:
        for user, name in names.items():
            conn.execute(update(s.users).where(s.users.c.user_id == user).values(name=name))


def test_csv_for_people_starts_no_cell_with_a_formula_character(db, db_url, clinic, tmp_path):
    users = ["u-peter", "u-frank", "u-mia", "u-rita", "u-sam", "u-sole", "u-fiona"]
    rename(db, dict(zip(users, HOSTILE, strict=True)))
    environment = {**os.environ, "OPSKIT_NOW": NOW}
    proc = subprocess.run(  # bytes: text mode would turn the lone "\r" into a newline
        [OPSKIT, "users", "--format", "csv", "--db", db_url], capture_output=True, env=environment
    )
    assert proc.returncode == 0, proc.stderr
    stdout = proc.stdout.decode("utf-8")
    names = {row["name"] for row in csv.DictReader(io.StringIO(stdout, newline=""))}
    assert {"'" + h for h in HOSTILE[:-1]} <= names and "Plain = fine" in names
    for row in csv.reader(io.StringIO(stdout, newline="")):
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)
    # the dataset folder keeps them verbatim, for opskit load
    folder = tmp_path / "out"
    assert run("export", str(folder), "--db", db_url).returncode == 0
    with open(folder / "users.csv", encoding="utf-8", newline="") as handle:
        exported = {row["name"] for row in csv.DictReader(handle)}
    assert set(HOSTILE) <= exported


def test_the_candidates_csv_is_spreadsheet_safe(db, db_url, clinic, tmp_path):
    with db.begin() as conn:
        conn.execute(
            update(s.users)
            .where(s.users.c.user_id == "u-peter")
            .values(email="=peter@example.test", email_key="=peter@example.test")
        )
        conn.execute(update(s.memberships).values(last_sign_in_at=None))
    out = tmp_path / "candidates.csv"
    proc = run(
        "report", "dormant", "--out", str(out), "--days", "0", "--grace", "0", "--db", db_url
    )
    assert proc.returncode == 0, proc.stderr
    assert "'=peter@example.test,g-harbour,deactivate," in out.read_text()
