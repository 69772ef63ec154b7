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

from opskit.db import connect

from ..conftest import _truncate_all
from ..stress.workload import build_scenario, kill_apply_and_resume, terminate_mid_run

SEED = int(os.environ.get("OPSKIT_STRESS_SEED") or random.randrange(1_000_000))


def test_offboard_apply_killed_at_random_instants_resumes_to_a_consistent_database(
    db_url, db, tmp_path
):
    rng = random.Random(SEED)
    scenario = build_scenario(db, groups=4, members=40, duel_groups=0, seed=SEED)
    for kill in range(2):
        report = kill_apply_and_resume(db_url, db, scenario, tmp_path, rng, rows=60)
        assert report.problems == [], f"seed {SEED}, kill {kill}: {report}"


def test_a_connection_lost_mid_run_is_a_one_line_error_and_resume_finishes(pg_migrated, tmp_path):
    _truncate_all(pg_migrated)
    db = connect(pg_migrated)
    scenario = build_scenario(db, groups=4, members=40, duel_groups=0, seed=5)
    assert terminate_mid_run(pg_migrated, db, scenario, tmp_path) == []
    db.dispose()
