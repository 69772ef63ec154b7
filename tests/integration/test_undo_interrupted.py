"""An undo that stops part-way shows its run as interrupted, and resume finishes the
undo (docs/rules.md, undo). SQLite and PostgreSQL, on the clinic scenario."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from opskit import offboard as ob
from opskit import schema as s
from opskit.errors import Refused
from opskit.offboard import apply_plan, plan_offboarding, resume_run, undo_run
from opskit.offboard import undo as ob_undo


def statuses(db):
    m = s.memberships.c
    with db.read() as conn:
        return dict(
            conn.execute(
                select(m.user_id, m.status).where(
                    m.group_id == "g-harbour", m.user_id.in_(["u-peter", "u-frank", "u-mia"])
                )
            ).all()
        )


def test_an_undo_killed_part_way_is_interrupted_and_resume_finishes_it(db, clinic, monkeypatch):
    targets = [{"email": e, "group": "g-harbour"} for e in (clinic.peter, clinic.frank, clinic.mia)]
    plan = plan_offboarding(db, targets, actor=clinic.ops)
    run = apply_plan(db, plan, batch_size=1, progress=False)
    assert set(statuses(db).values()) == {"inactive"}
    real, calls = ob_undo._undo_batch, []

    def dies_on_the_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as a kill between two batches
        return real(*args, **kwargs)

    monkeypatch.setattr(ob_undo, "_undo_batch", dies_on_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        undo_run(db, run.run, actor=clinic.ops, progress=False)
    monkeypatch.setattr(ob_undo, "_undo_batch", real)
    assert ob.run_summary(db, run.run).state == "interrupted"
    assert sorted(statuses(db).values()) == ["active", "inactive", "inactive"]

    summary = resume_run(db, run.run, progress=False)
    assert summary.state == "undone"
    assert set(statuses(db).values()) == {"active"}
    # and nothing twice: one reactivation per member
    reactivated = [e for e in ob.run_events(db, run.run) if e["action"] == "reactivated"]
    assert len(reactivated) == 3
    with pytest.raises(Refused, match="was undone"):
        resume_run(db, run.run, progress=False)


def test_a_bulk_run_refreshes_the_planner_statistics_on_postgresql(pg_migrated, frozen_now):
    """The first query after a bulk write gets a plan made for the tables as they are:
    apply ends with ANALYZE (pg_class.reltuples, -1 until a table is first analysed)."""
    from opskit.db import connect

    from ..conftest import _truncate_all
    from ..scenarios import build_clinic

    _truncate_all(pg_migrated)
    db = connect(pg_migrated)
    try:
        clinic = build_clinic(db)

        def counted(table):
            with db.read() as conn:
                return conn.exec_driver_sql(
                    f"SELECT reltuples FROM pg_class WHERE relname = '{table}'"
                ).scalar_one()

        assert counted("offboard_run_rows") == -1
        plan = plan_offboarding(
            db, [{"email": clinic.peter, "group": "g-harbour"}], actor=clinic.ops
        )
        apply_plan(db, plan, progress=False)
        assert (counted("memberships"), counted("offboard_run_rows")) == (13, 1)
    finally:
        db.dispose()
