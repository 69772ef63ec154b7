"""``opskit policy set|exempt|show``, ``opskit review dormant`` and the dormant report's
options: the real command, its output and exit codes."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from opskit import schema as s
from opskit.db import connect
from opskit.offboard.planfile import load

from ..scenarios import T0
from .test_cli_reports import assert_one_line_error, ok, run


def _idle(db_url, group_id, name, days):
    db = connect(db_url)
    with db.begin() as conn:
        m = s.memberships.c
        conn.execute(
            update(s.memberships)
            .where(m.group_id == group_id, m.user_id == f"u-{name}")
            .values(last_sign_in_at=T0 - timedelta(days=days))
        )
    db.dispose()


def _counts(db_url):
    db = connect(db_url)
    with db.read() as conn:
        counted = {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in s.metadata.sorted_tables
        }
        active = conn.execute(
            select(func.count()).where(s.memberships.c.status == "active")
        ).scalar_one()
    db.dispose()
    return counted, active


def test_report_dormant_shows_last_activity_and_takes_grace_days(db_url, clinic):
    _idle(db_url, "g-harbour", "peter", 200)
    rows = json.loads(
        ok(
            run(
                "report",
                "dormant",
                "--days",
                "29",
                "-g",
                "g-harbour",
                "--format",
                "json",
                "--db",
                db_url,
            )
        )
    )
    peter = next(r for r in rows if r["email"] == clinic.peter)
    assert (peter["activity"], peter["last_active_at"]) == ("appointment", "2026-06-01T10:00:00Z")
    for option in ("--grace-days", "--grace"):  # --grace: the earlier name, still taken
        ok(run("report", "dormant", option, "5", "--db", db_url))


def test_policy_set_show_and_exempt_through_the_command(db_url, clinic):
    out = ok(
        run(
            "policy",
            "set",
            "-g",
            "Harbour Clinic",
            "--dormant-days",
            "5",
            "--actor",
            clinic.olivia,
            "--format",
            "json",
            "--db",
            db_url,
        )
    )
    assert json.loads(out)["outcome"] == "changed"
    shown = json.loads(ok(run("policy", "show", "--format", "json", "--db", db_url)))
    assert [(r["group_id"], r["dormant_days"], r["source"]) for r in shown] == [
        ("g-harbour", 5, "group"),
        ("g-solo", 90, "default"),
        ("g-summit", 90, "default"),
    ]
    dormant = json.loads(ok(run("report", "dormant", "--format", "json", "--db", db_url)))
    assert len(dormant) == 7
    ok(
        run(
            "policy",
            "exempt",
            clinic.frank,
            "-g",
            "g-harbour",
            "--until",
            "2026-07-02",
            "--reason",
            "on leave",
            "--actor",
            clinic.olivia,
            "--db",
            db_url,
        )
    )
    dormant = json.loads(ok(run("report", "dormant", "--format", "json", "--db", db_url)))
    assert clinic.frank not in {r["email"] for r in dormant}
    listed = json.loads(
        ok(run("policy", "show", "--exemptions", "--format", "json", "--db", db_url))
    )
    assert [(r["email"], r["until"], r["active"]) for r in listed] == [
        (clinic.frank, "2026-07-02", True)
    ]


def test_policy_changes_by_someone_without_full_access_are_refused_with_exit_1(db_url, clinic):
    proc = run(
        "policy",
        "set",
        "-g",
        "g-harbour",
        "--grace-days",
        "5",
        "--actor",
        clinic.peter,
        "--db",
        db_url,
    )
    assert "may not set the dormancy policy in Harbour Clinic" in assert_one_line_error(proc, 1)
    proc = run(
        "policy",
        "exempt",
        clinic.frank,
        "-g",
        "g-harbour",
        "--until",
        "2026-08-01",
        "--reason",
        "x",
        "--actor",
        clinic.rita,
        "--db",
        db_url,
    )
    assert "read-only" in assert_one_line_error(proc, 1)


def test_bad_policy_input_is_exit_2_naming_the_option(db_url, clinic):
    cases = [
        (["policy", "set", "-g", "g-harbour", "--dormant-days", "-1"], "--dormant-days"),
        (["policy", "set", "-g", "g-harbour"], "--dormant-days"),
        (["policy", "set", "-g", "Nowhere", "--grace-days", "3"], "--group"),
        (
            [
                "policy",
                "exempt",
                clinic.frank,
                "-g",
                "g-harbour",
                "--until",
                "soon",
                "--reason",
                "x",
            ],
            "--until",
        ),
        (
            [
                "policy",
                "exempt",
                "nobody@x.test",
                "-g",
                "g-harbour",
                "--until",
                "2026-08-01",
                "--reason",
                "x",
            ],
            "email",
        ),
    ]
    for args, where in cases:
        proc = run(*args, "--actor", clinic.olivia, "--db", db_url)
        assert where in assert_one_line_error(proc, 2), args
    assert (
        json.loads(
            ok(run("policy", "show", "-g", "g-harbour", "--format", "json", "--db", db_url))
        )[0]["source"]
        == "default"
    )


def test_review_dormant_writes_a_plan_and_notices_and_changes_nothing(db_url, clinic, tmp_path):
    _idle(db_url, "g-harbour", "frank", 100)
    _idle(db_url, "g-harbour", "olivia", 100)  # Full Access: in the notice, not the plan
    _idle(db_url, "g-summit", "mia", 120)
    db = connect(db_url)
    with db.begin() as conn:  # sam: no activity at all, joined long ago
        m = s.memberships.c
        conn.execute(
            update(s.memberships)
            .where(m.group_id == "g-summit", m.user_id == "u-sam")
            .values(last_sign_in_at=None)
        )
    db.dispose()
    before = _counts(db_url)
    plan_path, notices = tmp_path / "review.plan", tmp_path / "notices"
    out = ok(
        run(
            "review",
            "dormant",
            "--out",
            str(plan_path),
            "--actor",
            clinic.ops,
            "--notify",
            str(notices),
            "--format",
            "json",
            "--db",
            db_url,
        )
    )
    assert _counts(db_url) == before
    result = json.loads(out)
    assert (result["candidates"], result["full_access_left_out"]) == (2, 2)
    plan = load(plan_path)
    assert [(r.group_id, r.email, r.action, r.blocker, r.reason) for r in plan.rows] == [
        ("g-harbour", clinic.frank, "deactivate", None, "dormant 100 days"),
        ("g-summit", clinic.mia, "deactivate", None, "dormant 120 days"),
    ]
    assert sorted(p.name for p in notices.iterdir()) == [
        "dormant-g-harbour.csv",
        "dormant-g-summit.csv",
    ]
    with (notices / "dormant-g-harbour.csv").open(encoding="utf-8") as notice:
        rows = list(csv.DictReader(notice))
    assert [(r["email"], r["account_owners"], r["planned"]) for r in rows] == [
        (clinic.frank, clinic.olivia, "deactivate"),
        (clinic.olivia, clinic.olivia, "full_access: lower their access level first"),
    ]
    with (notices / "dormant-g-summit.csv").open(encoding="utf-8") as notice:
        rows = list(csv.DictReader(notice))
    assert [(r["email"], r["last_active_at"], r["activity"]) for r in rows] == [
        (clinic.sam, "", ""),
        (clinic.mia, "2026-03-03T09:00:00Z", "sign_in"),
    ]


def test_review_notices_quote_formula_cells_and_keep_each_member_on_one_row(
    db_url, clinic, tmp_path
):
    _idle(db_url, "g-harbour", "frank", 100)
    _idle(db_url, "g-summit", "mia", 120)
    db = connect(db_url)
    with db.begin() as conn:
        for user, name in (
            ("u-frank", '=HYPERLINK("http://x.test","click")'),
            ("u-mia", "Two\rLines"),
        ):
            conn.execute(update(s.users).where(s.users.c.user_id == user).values(name=name))
    db.dispose()
    notices = tmp_path / "notices"
    plan = str(tmp_path / "review.plan")
    ok(
        run(
            "review",
            "dormant",
            "--out",
            plan,
            "--actor",
            clinic.ops,
            "--notify",
            str(notices),
            "--db",
            db_url,
        )
    )

    def rows(name):  # bytes: text mode would take the lone "\r" for a line end
        text = (notices / name).read_bytes().decode("utf-8")
        return list(csv.reader(io.StringIO(text, newline="")))

    header, frank = rows("dormant-g-harbour.csv")
    assert (frank[header.index("name")], frank[header.index("planned")]) == (
        '\'=HYPERLINK("http://x.test","click")',
        "deactivate",
    )
    header, mia = rows("dormant-g-summit.csv")
    assert (mia[header.index("email")], mia[header.index("name")]) == (clinic.mia, "Two\rLines")
    assert len(mia) == len(header)


def test_review_dormant_with_no_candidates_writes_an_empty_plan(db_url, clinic, tmp_path):
    out = ok(
        run(
            "review",
            "dormant",
            "--out",
            str(tmp_path / "p.plan"),
            "--actor",
            clinic.ops,
            "--format",
            "json",
            "--db",
            db_url,
        )
    )
    assert json.loads(out)["candidates"] == 0
    assert load(tmp_path / "p.plan").rows == []


def test_a_review_leaves_the_garbage_collector_as_it_found_it(db_url, clinic, tmp_path):
    """The review runs with the collector paused (the plan's rows made it walk them on
    every later allocation), and gives it back as it was, also when it fails."""
    import gc

    from opskit import review_dormant
    from opskit.errors import OpskitError

    _idle(db_url, "g-harbour", "frank", 100)
    db = connect(db_url)
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            review = review_dormant(
                db, actor=clinic.ops, out=tmp_path / "r.plan", notify=tmp_path / "n"
            )
            assert review.candidates == 1 and gc.isenabled() is enabled
            with pytest.raises(OpskitError):
                review_dormant(db, actor=clinic.ops, out=tmp_path / "r.plan", group="nowhere")
            assert gc.isenabled() is enabled
    finally:
        gc.enable()
        db.dispose()
