"""The demo's past (opskit/dataset/history.py): 18 months replayed through the library's
verbs with a pinned clock, ending in exactly the state the demo's CSV files hold, with
a real, intact and reproducible audit trail. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from opskit import schema as s
from opskit.audit import audit_events, verify_chain
from opskit.dataset import DEMO_DIR, SPECS, export_dataset, load_demo
from opskit.dataset.history import LEAVES, NOW, START
from opskit.invariants import check_invariants
from opskit.reports import inactive_report, status_summary, trends_report

FULL_ACCESS = {
    "g-harbour": {"olivia.hart@harbourphysio.example", "fiona.walsh@harbourphysio.example"},
    "g-summit": {"sam.patel@summitsports.example", "hannah.brooks@summitsports.example"},
    "g-willow": {"wendy.park@willowcreek.example"},
}


def records(folder: Path, file: str) -> list[dict[str, str]]:
    with open(folder / file, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def demo(db):
    return load_demo(db)


def test_the_replay_ends_in_exactly_the_state_the_demo_files_hold(db, demo, tmp_path):
    export_dataset(db, tmp_path / "out")
    csv_sessions = {row["session_id"] for row in records(DEMO_DIR, "sessions.csv")}
    for spec in SPECS:
        if not (DEMO_DIR / spec.file).exists():
            continue
        expected = records(DEMO_DIR, spec.file)
        columns = list(expected[0])
        exported = [{c: r[c] for c in columns} for r in records(tmp_path / "out", spec.file)]
        if spec.file == "sessions.csv":  # the files hold the sessions of the last months
            history = [r for r in exported if r["session_id"] not in csv_sessions]
            exported = [r for r in exported if r["session_id"] in csv_sessions]
            # every earlier session ended before the member's first one in the files
            first: dict[tuple[str, str], str] = {}
            for r in sorted(expected, key=lambda r: r["started_at"]):
                first.setdefault((r["group_id"], r["user_id"]), r["started_at"])
            assert history
            for r in history:
                assert r["started_at"] < r["revoked_at"] < first[r["group_id"], r["user_id"]]
        key = lambda r: tuple(r.values())  # noqa: E731
        assert sorted(exported, key=key) == sorted(expected, key=key), spec.file


def test_the_replay_goes_through_the_verbs_so_inactive_members_say_who_when_and_why(db, demo):
    report = inactive_report(db).set_index("email")
    assert report.loc["ivan.petrov@harbourphysio.example", "deactivated_at"] == pd.Timestamp(
        "2026-03-01T12:00:00"
    )
    assert report.loc["ivan.petrov@harbourphysio.example", "deactivated_by"] == (
        "olivia.hart@harbourphysio.example"
    )
    assert set(report["reason"]) == {"left the practice"}
    # the deactivation signed them out: their last sessions end at that instant
    with db.read() as conn:
        ended = conn.execute(
            sa.select(s.sessions.c.revoked_at).where(
                s.sessions.c.user_id == "u-nina", s.sessions.c.session_id == "s-summit-09"
            )
        ).scalar_one()
    assert ended == datetime(2026, 4, 15, 9, 0)


def test_the_audit_trail_is_real_chained_and_every_check_passes(db, demo):
    assert verify_chain(db)["intact"] is True
    assert check_invariants(db) == []
    events = audit_events(db)
    assert demo["audit_events"] == len(events)
    kinds = Counter(event["action"] for event in events)
    assert kinds == {
        "deactivated": 22,
        "reactivated": 19,
        "checklist_resolved": 11,
        "settings_restored": 11,
        "export_granted": 2,
    }
    # each change made by a Full Access member of the group (the analyst has it everywhere)
    for event in events:
        assert event["actor"] in FULL_ACCESS[event["group_id"]] | {"analyst@opskit.demo"}
        assert START <= datetime.fromisoformat(event["at"][:-1]) < NOW
    # leavers signed out on every device the day they left, counted in the event
    assert sum(e["after"]["sessions_revoked"] for e in events if e["action"] == "deactivated")


def test_every_leave_that_resolved_the_checklist_put_the_settings_back_on_return(db, demo):
    with db.read() as conn:
        snapshots = conn.execute(
            sa.select(s.settings_snapshots.c.user_id, s.settings_snapshots.c.restored_at)
        ).all()
    assert snapshots and all(restored is not None for _, restored in snapshots)
    assert {user for user, _ in snapshots} == {leave.user for leave in LEAVES if leave.checklist}


def test_trends_show_changes_in_every_month_of_the_last_18_months(db, demo):
    trends = trends_report(db)
    months = sorted(set(trends["month"]))
    assert months[0] == "2025-01" and months[-1] == "2026-06" and len(months) == 18
    assert int(trends["deactivations"].sum()) == 22
    assert int(trends["reactivations"].sum()) == 19
    # a member who leaves and comes back counts once each way in their group
    harbour = trends_report(db, group="g-harbour")
    june = harbour[harbour["month"] == "2026-06"].iloc[0]
    assert (june["deactivations"], june["reactivations"]) == (1, 1)
    summary = status_summary(db).set_index("group_id")
    assert summary["inactive"].to_dict() == {"g-harbour": 1, "g-summit": 1, "g-willow": 1}


def test_the_replay_is_the_same_every_time_down_to_the_hashes(db, tmp_path):
    def trail():
        load_demo(db)
        with db.read() as conn:
            events = conn.execute(
                sa.select(s.audit_events).order_by(s.audit_events.c.event_id)
            ).all()
            sessions = conn.execute(sa.select(s.sessions).order_by(s.sessions.c.session_id)).all()
        return [tuple(e) for e in events], [tuple(r) for r in sessions]

    first, second = trail(), trail()
    assert first == second
    assert len({event[-1] for event in first[0]}) == len(first[0])  # one hash each
