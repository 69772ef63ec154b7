"""``opskit checklist`` and the checklist options of deactivate / reactivate, run for real."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

OPSKIT = str(Path(sys.executable).with_name("opskit"))
ROW_KEYS = {"group_id", "group", "email", "name", "status", "item", "state", "count", "detail"}
RESOLVABLE = ["online_booking", "integrations", "credits_auto_top_up", "appointment_reminders"]


def run(*args):
    environment = {**os.environ, "OPSKIT_NOW": "2026-07-01T09:00:00Z"}
    environment.pop("OPSKIT_DATABASE_URL", None)
    return subprocess.run(
        [OPSKIT, *args], capture_output=True, text=True, env=environment, timeout=120
    )


def ok_json(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def one_line_error(proc, code):
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_checklist_of_a_group_prints_six_rows_per_member_with_the_contract_keys(db_url, clinic):
    rows = ok_json(
        run("checklist", "--group", "Harbour Clinic", "--format", "json", "--db", db_url)
    )
    assert len(rows) == 6 * 8
    assert set(rows[0]) >= ROW_KEYS
    peter = {r["item"]: r for r in rows if r["email"] == clinic.peter}
    assert peter["online_booking"]["state"] == "action_needed"
    assert (peter["future_appointments"]["state"], peter["future_appointments"]["count"]) == (
        "advisory",
        2,
    )
    assert rows[-1]["status"] == "inactive"


def test_checklist_of_a_user_and_of_every_group_in_csv_and_table(db_url, clinic):
    proc = run("checklist", "--user", clinic.mia, "--format", "csv", "--db", db_url)
    assert proc.returncode == 0, proc.stderr
    records = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(records) == 12
    assert set(records[0]) >= ROW_KEYS
    table = run("checklist", "--db", db_url)
    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[0].split()
    assert header[:5] == ["group", "email", "status", "item", "state"]
    assert len(table.stdout.splitlines()) == 2 + 6 * 13


def test_resolve_all_for_a_member_prints_the_rows_after_and_marks_what_it_resolved(db_url, clinic):
    rows = ok_json(
        run(
            "checklist",
            "--group",
            "g-harbour",
            "--user",
            clinic.peter,
            "--resolve",
            "all",
            "--actor",
            clinic.ops,
            "--format",
            "json",
            "--db",
            db_url,
        )  # fmt: skip
    )
    assert [r["item"] for r in rows if r["resolved"]] == RESOLVABLE
    assert {r["item"]: r["state"] for r in rows if r["resolved"]} == dict.fromkeys(RESOLVABLE, "ok")
    audit = ok_json(run("audit", "--format", "json", "--db", db_url))
    assert [(e["action"], e["item"]) for e in audit] == [
        ("checklist_resolved", item) for item in RESOLVABLE
    ]


def test_resolve_data_export_writes_export_granted(db_url, clinic):
    ok_json(
        run(
            "checklist",
            "-g",
            "g-harbour",
            "--user",
            clinic.peter,
            "--resolve",
            "data_export",
            "--actor",
            clinic.ops,
            "--format",
            "json",
            "--db",
            db_url,
        )  # fmt: skip
    )
    audit = ok_json(run("audit", "--format", "json", "--db", db_url))
    assert [(e["action"], e["item"]) for e in audit] == [("export_granted", "data_export")]


def test_resolve_without_an_actor_is_a_usage_error(db_url, clinic):
    proc = run(
        "checklist", "-g", "g-harbour", "--user", clinic.peter, "--resolve", "all", "--db", db_url
    )
    assert "--actor" in one_line_error(proc, 2)


def test_resolve_without_a_member_is_a_usage_error(db_url, clinic):
    proc = run("checklist", "-g", "g-harbour", "--resolve", "all", "--actor", clinic.ops)
    assert "--user" in one_line_error(proc, 2)


def test_resolving_an_unknown_item_exits_2_naming_the_allowed_items(db_url, clinic):
    proc = run(
        "checklist", "-g", "g-harbour", "--user", clinic.peter, "--resolve", "bookings",
        "--actor", clinic.ops, "--db", db_url,
    )  # fmt: skip
    message = one_line_error(proc, 2)
    assert "'bookings'" in message
    assert (
        "online_booking, integrations, credits_auto_top_up, appointment_reminders, "
        "data_export, all" in message
    )


def test_resolving_without_full_access_is_refused_with_exit_1_and_changes_nothing(db_url, clinic):
    proc = run(
        "checklist", "-g", "g-harbour", "--user", clinic.peter, "--resolve", "all",
        "--actor", clinic.frank, "--db", db_url,
    )  # fmt: skip
    assert "may not resolve checklist items in Harbour Clinic" in one_line_error(proc, 1)
    assert ok_json(run("audit", "--format", "json", "--db", db_url)) == []


def test_unknown_group_or_user_is_bad_input(db_url, clinic):
    assert "--group" in one_line_error(run("checklist", "-g", "nowhere", "--db", db_url), 2)
    proc = run("checklist", "-g", "g-solo", "--user", clinic.peter, "--db", db_url)
    assert "is not a member of Solo Practice" in one_line_error(proc, 2)


def test_deactivate_with_checklist_dry_run_shows_the_changes_and_writes_nothing(db_url, clinic):
    result = ok_json(
        run(
            "deactivate",
            clinic.peter,
            "-g",
            "g-harbour",
            "--actor",
            clinic.ops,
            "--resolve-checklist",
            "--dry-run",
            "--format",
            "json",
            "--db",
            db_url,
        )  # fmt: skip
    )
    assert result["dry_run"] is True
    assert [r["item"] for r in result["checklist"] if r["resolved"]] == RESOLVABLE
    assert ok_json(run("audit", "--format", "json", "--db", db_url)) == []
    rows = ok_json(
        run(
            "checklist",
            "-g",
            "g-harbour",
            "--user",
            clinic.peter,
            "--format",
            "json",
            "--db",
            db_url,
        )
    )
    assert rows[0]["state"] == "action_needed"


def test_deactivate_with_checklist_then_reactivate_with_restore_settings(db_url, clinic):
    before = ok_json(run("checklist", "--user", clinic.peter, "--format", "json", "--db", db_url))
    result = ok_json(
        run(
            "deactivate",
            clinic.peter,
            "-g",
            "g-harbour",
            "--actor",
            clinic.ops,
            "--resolve-checklist",
            "--format",
            "json",
            "--db",
            db_url,
        )  # fmt: skip
    )
    assert result["outcome"] == "deactivated"
    assert {r["item"]: r["state"] for r in result["checklist"]}["online_booking"] == "ok"
    back = ok_json(
        run(
            "reactivate",
            clinic.peter,
            "-g",
            "g-harbour",
            "--actor",
            clinic.ops,
            "--restore-settings",
            "--format",
            "json",
            "--db",
            db_url,
        )  # fmt: skip
    )
    assert back["outcome"] == "reactivated"
    assert [(r["item"], r["outcome"]) for r in back["checklist"]] == [
        (item, "restored") for item in RESOLVABLE
    ]
    after = ok_json(run("checklist", "--user", clinic.peter, "--format", "json", "--db", db_url))
    assert [(r["item"], r["state"], r["detail"]) for r in after] == [
        (r["item"], r["state"], r["detail"]) for r in before
    ]
    audit = ok_json(run("audit", "--user", clinic.peter, "--format", "json", "--db", db_url))
    assert [e["action"] for e in audit].count("settings_restored") == 4


def test_summary_counts_members_per_group_item_and_state(db_url, clinic):
    rows = ok_json(run("checklist", "--summary", "--format", "json", "--db", db_url))
    assert len(rows) == 3 * 6
    booking = next(
        r for r in rows if (r["group_id"], r["item"]) == (clinic.harbour, "online_booking")
    )
    assert {k: booking[k] for k in ("members", "ok", "action_needed", "not_applicable")} == {
        "members": 8,
        "ok": 4,
        "action_needed": 1,
        "not_applicable": 3,
    }
    proc = run("checklist", "--summary", "--user", clinic.peter, "--db", db_url)
    assert "--summary" in one_line_error(proc, 2)


def test_checklist_has_help_text():
    proc = run("checklist", "--help")
    assert proc.returncode == 0
    assert "--resolve" in proc.stdout and "pre-deactivation checklist" in proc.stdout
