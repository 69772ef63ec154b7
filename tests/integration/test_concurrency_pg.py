"""Several processes at once on PostgreSQL: each change happens once, with one event,
nothing is lost, and no group is ever locked out (R4 under write skew).

The short version of ``make stress`` (tests/stress/stress.py runs it bigger). Every
process has its own interpreter and engine, as separate analysts would.
"""

from __future__ import annotations

import argparse
import os
import random
from collections import Counter

import pytest
import sqlalchemy as sa

from opskit.db import connect
from opskit.offboard import plan_offboarding

from ..conftest import PG_SERVER, _truncate_all
from ..stress.bound import LoginRoles
from ..stress.stress import run_backend
from ..stress.workload import (
    active_members,
    apply_at_once,
    build_scenario,
    duel_all,
    expected_duel,
    last_event_id,
    membership_states,
    run_workers,
    verify,
)

SEED = int(os.environ.get("OPSKIT_STRESS_SEED") or random.randrange(1_000_000))


@pytest.fixture
def pg_url(pg_migrated):
    _truncate_all(pg_migrated)
    return pg_migrated


@pytest.fixture
def pg(pg_url):
    database = connect(pg_url)
    yield database
    database.dispose()


def test_two_full_access_members_striking_at_the_same_moment_never_lock_a_group_out(pg_url, pg):
    # per duel group, from two processes released by one barrier: the two owners lower
    # each other; or each lowers themselves; or two others take one ownership each
    scenario = build_scenario(pg, groups=1, members=2, duel_groups=12)
    initial = membership_states(pg)
    outcomes = duel_all(pg_url, scenario)
    wrong = {
        group: found for group, found in outcomes.items() if found != expected_duel(scenario, group)
    }
    assert wrong == {}
    assert verify(pg, initial) == []  # one event per change; every group keeps an owner


def test_concurrent_analysts_change_each_member_once_with_one_event_and_lose_nothing(
    pg_url, pg, tmp_path
):
    scenario = build_scenario(pg, groups=4, members=10, duel_groups=3, seed=7)
    initial = membership_states(pg)
    outcomes = run_workers(pg_url, scenario, workers=4, iterations=40, folder=tmp_path)
    assert len(outcomes) == 160
    assert verify(pg, initial, outcomes) == []
    done = Counter(o.get("outcome") for o in outcomes)
    assert done["deactivated"] + done["applied"] > 0  # the workers did contend


def test_overlapping_bulk_plans_applied_at_once_deactivate_each_member_once(pg_url, pg, tmp_path):
    scenario = build_scenario(pg, groups=3, members=12, duel_groups=0, seed=3)
    members = active_members(pg, scenario)
    rng = random.Random(11)
    files = []
    for number in range(3):
        chosen = rng.sample(members, len(members) * 2 // 3)  # the plans overlap
        rows = [{"email": email, "group": group} for group, email in chosen]
        path = tmp_path / f"plan-{number}.json"
        plan_offboarding(pg, rows, actor=scenario.analyst).save(path)
        files.append(str(path))
    initial, since = membership_states(pg), last_event_id(pg)
    results = apply_at_once(pg_url, files)
    assert [error for _, _, error in results if error] == []
    deactivated = sum(counts["deactivated"] for _, counts, _ in results)
    now_inactive = sum(1 for key, state in membership_states(pg).items() if state != initial[key])
    assert deactivated == now_inactive > 0  # each member once, by exactly one of the runs
    assert verify(pg, initial, since=since) == []


def test_bound_mode_workers_on_their_own_login_roles_keep_the_chain_and_their_logins(
    pg_url, tmp_path
):
    # docs/rules.md 9.1 and 9.2 under concurrency: the short version of the PostgreSQL
    # half of `make stress`. A real login role per worker (opskit grant, operators add);
    # each worker plans, has another approve, applies, undoes, tries to impersonate; one
    # apply is SIGKILLed and resumed as a worker's role. Then audit verify, check and
    # every event's login (the worker's role, as the server recorded it) must hold.
    args = argparse.Namespace(
        workers=3, iterations=12, kills=1, terminations=0, groups=3, members=10,
        duels=0, rows=20, seed=SEED,
    )  # fmt: skip
    figures: Counter = Counter()
    with LoginRoles(PG_SERVER, args.workers) as roles:
        problems = run_backend(pg_url, "postgresql", args, tmp_path, figures, roles=roles)
    assert problems == [], f"seed {SEED}"
    # after binding, while the workers wrote, after them, at the end
    assert figures["postgresql checkpoints (audit verify, check, logins)"] >= 4
    server = sa.create_engine(PG_SERVER)
    with server.connect() as conn:
        left = conn.execute(
            sa.text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:names)"),
            {"names": roles.names},
        ).all()
    server.dispose()
    assert left == []  # the roles are dropped
    db = connect(pg_url)
    with db.read() as conn:
        logins = set(conn.execute(sa.text("SELECT DISTINCT login FROM audit_events")).scalars())
    db.dispose()
    # the crash phase's run: planned, applied and undone as w0, approved as w1
    assert {roles.names[0], roles.names[1]} <= logins
