"""Crashes and a database going away in the middle of ``opskit offboard apply``.

SIGKILL at a random instant (start-up, writing the ledger, mid-batch, between batches,
finishing); then ``opskit offboard resume RUN`` until done, and the invariant check,
the audit replay and the ledger must all agree: every planned member deactivated once,
with one event, nothing lost. ``make stress`` runs dozens of these; the suite a few.
On PostgreSQL the opskit process's backends are also terminated mid-run: a one-line
error, exit 2, and resume finishes the run.
"""

from __future__ import annotations

import os
import random
import subprocess
import time

import sqlalchemy as sa

from opskit.db import connect
from opskit.offboard import plan_offboarding

from .stress.workload import (
    OPSKIT,
    active_members,
    build_scenario,
    kill_apply_and_resume,
    last_event_id,
    membership_states,
    opskit_env,
    pending_rows,
    results_of,
    run_ids,
    verify,
)

SEED = int(os.environ.get("OPSKIT_STRESS_SEED") or random.randrange(1_000_000))


def test_offboard_apply_killed_at_random_instants_resumes_to_a_consistent_database(
    db_url, db, tmp_path
):
    rng = random.Random(SEED)
    scenario = build_scenario(db, groups=4, members=40, duel_groups=0, seed=SEED)
    for kill in range(2):
        report = kill_apply_and_resume(db_url, db, scenario, tmp_path, rng, rows=100)
        assert report.problems == [], f"seed {SEED}, kill {kill}: {report}"


def test_a_connection_lost_mid_run_is_a_one_line_error_and_resume_finishes(pg_migrated, tmp_path):
    from .conftest import _truncate_all

    _truncate_all(pg_migrated)
    db = connect(pg_migrated)
    scenario = build_scenario(db, groups=4, members=40, duel_groups=0, seed=5)
    rows = [{"email": e, "group": g} for g, e in active_members(db, scenario)]
    plan = plan_offboarding(db, rows, actor=scenario.analyst)
    plan.save(tmp_path / "plan.json")
    initial, since, before = membership_states(db), last_event_id(db), run_ids(db)
    victim = sa.engine.make_url(pg_migrated).update_query_dict(
        {"application_name": "opskit-victim"}
    )
    url = victim.render_as_string(hide_password=False)
    apply = subprocess.Popen(
        [OPSKIT, "offboard", "apply", str(tmp_path / "plan.json"), "--batch-size", "2"]
        + ["--db", url],
        env=opskit_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # once the run is under way, terminate its backends until the process gives up
    killer = sa.create_engine(pg_migrated, isolation_level="AUTOCOMMIT")
    deadline = time.time() + 120
    started = False
    terminated = 0
    while apply.poll() is None and time.time() < deadline:
        if not started:
            new = run_ids(db) - before
            started = bool(new) and pending_rows(db, next(iter(new))) < len(plan.to_apply)
        if started:
            with killer.connect() as conn:
                terminated += len(
                    conn.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = 'opskit-victim' AND pid <> pg_backend_pid()"
                        )
                    ).all()
                )
        time.sleep(0.05)
    killer.dispose()
    stderr = apply.communicate(timeout=60)[1]
    assert terminated > 0
    assert apply.returncode == 2, stderr
    assert "Traceback" not in stderr
    [line] = stderr.strip().splitlines()
    assert line.startswith("opskit: database error: "), line
    [run] = run_ids(db) - before
    assert pending_rows(db, run) > 0
    resume = subprocess.run(
        [OPSKIT, "offboard", "resume", run, "--db", pg_migrated],
        env=opskit_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resume.returncode == 0, resume.stderr
    assert pending_rows(db, run) == 0
    assert results_of(db, run)["deactivated"] == len(plan.to_apply)
    assert verify(db, initial, since=since) == []
    db.dispose()
