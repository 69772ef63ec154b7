"""``opskit report inactive|dormant|trends``: the real command, its formats and exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opskit.reports import DORMANT_COLUMNS, INACTIVE_COLUMNS, SUMMARY_COLUMNS, TRENDS_COLUMNS

OPSKIT = str(Path(sys.executable).with_name("opskit"))


def run(*args):
    environment = {**os.environ, "OPSKIT_NOW": "2026-07-01T09:00:00Z"}
    environment.pop("OPSKIT_DATABASE_URL", None)
    return subprocess.run(
        [OPSKIT, *args], capture_output=True, text=True, env=environment, timeout=120
    )


def ok(proc) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def assert_one_line_error(proc, code) -> str:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr.strip()


def test_report_inactive_prints_json_rows_with_group_email_and_the_finding(db_url, clinic):
    rows = json.loads(ok(run("report", "inactive", "--format", "json", "--db", db_url)))
    assert [list(r) for r in rows] == [INACTIVE_COLUMNS]
    (ivan,) = rows
    assert (ivan["group_id"], ivan["email"]) == ("g-harbour", clinic.ivan)
    assert ivan["deactivated_at"] == "2026-03-01T12:00:00Z"
    assert ivan["deactivated_by"] == clinic.olivia
    assert ivan["finding"] is False
    assert ivan["open_items"] == ""


def test_report_inactive_as_csv_has_a_header_and_one_line_per_member(db_url, clinic):
    text = ok(run("report", "inactive", "--format", "csv", "--db", db_url))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == INACTIVE_COLUMNS
    assert [(r["email"], r["finding"]) for r in rows] == [(clinic.ivan, "false")]


def test_report_inactive_as_a_table_names_the_columns_and_the_member(db_url, clinic):
    lines = ok(run("report", "inactive", "--db", db_url)).splitlines()
    assert lines[0].split() == INACTIVE_COLUMNS
    assert set(lines[1]) == {"-", " "}
    assert clinic.ivan in lines[2] and "left the practice" in lines[2]


def test_report_dormant_takes_days_and_group(db_url, clinic):
    rows = json.loads(
        ok(
            run(
                "report",
                "dormant",
                "--days",
                "10",
                "--group",
                "Summit Physio",
                "--format",
                "json",
                "--db",
                db_url,
            )
        )
    )
    assert all(list(r) == DORMANT_COLUMNS for r in rows)
    assert [(r["email"], r["days_dormant"], r["full_access"]) for r in rows] == [
        (clinic.mia, 10, False),
        (clinic.ops, 10, True),
        (clinic.sam, 10, True),
    ]
    assert rows[0]["last_sign_in_at"] == "2026-06-20T10:00:00Z"


def test_report_dormant_with_the_default_90_days_finds_nobody_in_the_clinic(db_url, clinic):
    assert json.loads(ok(run("report", "dormant", "--format", "json", "--db", db_url))) == []
    assert ok(run("report", "dormant", "--db", db_url)).strip() == "(no rows)"
    header = ok(run("report", "dormant", "--format", "csv", "--db", db_url))
    assert header == ",".join(DORMANT_COLUMNS) + "\n"


def test_report_dormant_out_writes_the_offboarding_csv_and_keeps_stdout_one_document(
    db_url, clinic, tmp_path
):
    out = tmp_path / "candidates.csv"
    proc = run(
        "report", "dormant", "--days", "10", "-g", "g-summit", "--out", str(out),
        "--format", "json", "--db", db_url,
    )  # fmt: skip
    assert len(json.loads(ok(proc))) == 3
    assert "wrote 1 candidate(s)" in proc.stderr
    assert "left out 2 Full Access member(s)" in proc.stderr
    assert out.read_text(encoding="utf-8") == (
        f"email,group,action,reason\n{clinic.mia},g-summit,deactivate,dormant 10 days\n"
    )


def test_report_trends_prints_the_monthly_table_and_the_summary_on_request(db_url, clinic):
    ok(run("deactivate", clinic.peter, "-g", "g-harbour", "--actor", clinic.ops, "--db", db_url))
    rows = json.loads(ok(run("report", "trends", "--format", "json", "--db", db_url)))
    assert rows == [
        {
            "month": "2026-07",
            "group_id": "g-harbour",
            "group": "Harbour Clinic",
            "deactivations": 1,
            "reactivations": 0,
        }
    ]
    assert list(rows[0]) == TRENDS_COLUMNS
    text = ok(run("report", "trends", "--summary", "--format", "csv", "--db", db_url))
    summary = list(csv.DictReader(io.StringIO(text)))
    assert list(summary[0]) == SUMMARY_COLUMNS
    assert [(r["group_id"], r["active"], r["inactive"]) for r in summary] == [
        ("g-harbour", "6", "2"),
        ("g-solo", "2", "0"),
        ("g-summit", "3", "0"),
    ]


@pytest.mark.parametrize(
    "args, where",
    [
        (["report", "dormant", "--days", "-1"], "--days"),
        (["report", "dormant", "--grace", "-3"], "--grace"),
        (["report", "dormant", "--days", "many"], "--days"),
        (["report", "inactive", "--group", "Nowhere"], "--group"),
        (["report", "trends", "--group", "Nowhere"], "--group"),
        (["report", "dormant", "--group", "Nowhere"], "--group"),
        (["report", "weekly"], "weekly"),
    ],
)
def test_bad_report_input_is_one_line_and_exit_code_2(db_url, clinic, args, where):
    message = assert_one_line_error(run(*args, "--db", db_url), 2)
    assert where in message


def test_every_report_command_has_help_text():
    for name in ("inactive", "dormant", "trends"):
        proc = run("report", name, "--help")
        assert proc.returncode == 0
        assert "--group" in proc.stdout and "--format" in proc.stdout and "--db" in proc.stdout
    assert "--days" in run("report", "dormant", "--help").stdout
    assert "--out" in run("report", "dormant", "--help").stdout
