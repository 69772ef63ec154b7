"""The full-size reliability run behind ``make stress`` (the suite runs a short version).

    python -m tests.stress.stress --workers 6 --iterations 200 --kills 40

On each backend (PostgreSQL from ``OPSKIT_TEST_POSTGRES_URL``, a fresh database dropped
afterwards; and SQLite in a temporary folder):

1. duels: in every duel group two Full Access members strike at the same moment (R4);
2. concurrency: ``--workers`` processes each run ``--iterations`` random operations
   (deactivate, reactivate, access, sign-in, checklist, overlapping bulk plans, undo,
   duels) on the same members; then the invariant check, the audit replay and the
   count of changes against events;
3. crashes: ``--kills`` times, SIGKILL ``opskit offboard apply`` (and now and then its
   resume) at a random instant, resume until done, check, undo, check;
4. PostgreSQL only: terminate the apply's backends mid-run ``--terminations`` times.

On PostgreSQL the database is in bound mode (docs/rules.md 9.1) from phase 2 on (the
duelists of phase 1 have no logins, so the duels are fought before): a real login role
per worker, created for the run and dropped after it whatever happens, given ``opskit
grant`` and mapped to its own Full Access operator with ``opskit operators add``. Each
worker connects as its role; its bulk plans are approved by another worker before it
applies them, and it tries now and then to act as another operator, approve its own
plan or forge the login of an audit event (all refused). The crash phases plan, apply,
resume and undo as one worker's role and approve as another's. After binding, while the
workers run (every few seconds), every ten kills and at the end: ``opskit audit verify``
finds the chain intact, ``opskit check`` is clean, and every event since binding carries
the login role of the worker that made it (``--unbound`` runs PostgreSQL unbound).

Prints the figures and every problem; exit 1 when there is any. ``--seed`` replays.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from opskit.db import Database, connect

from .bound import LoginRoles, bind, checkpoint, hands
from .workload import (
    Seat,
    build_scenario,
    duel_all,
    expected_duel,
    kill_apply_and_resume,
    last_event_id,
    membership_states,
    run_workers,
    terminate_mid_run,
    verify,
)

PG_SERVER_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _say(text: str) -> None:
    print(text, flush=True)


class PostgresDatabase:
    """A fresh database on the test server, dropped on exit."""

    def __init__(self, server: str) -> None:
        self.engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        self.name = f"opskit_stress_{uuid.uuid4().hex[:10]}"
        self.url = sa.engine.make_url(server).set(database=self.name)

    def __enter__(self) -> str:
        with self.engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        return self.url.render_as_string(hide_password=False)

    def __exit__(self, *exc) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.engine.dispose()


def run_backend(
    url: str,
    backend: str,
    args,
    folder: Path,
    figures: Counter,
    *,
    roles: LoginRoles | None = None,
) -> list[str]:
    """Every phase on one database; with ``roles`` (PostgreSQL) in bound mode."""
    problems: list[str] = []
    db = connect(url, create=True)
    rng = random.Random(args.seed)
    scenario = build_scenario(
        db,
        groups=args.groups,
        members=args.members,
        duel_groups=args.duels,
        seed=args.seed,
        operators=len(roles.names) if roles else 0,
    )
    _say(
        f"[{backend}] scenario: {args.groups} groups x {args.members} members, "
        f"{args.duels} duel groups"
    )
    connections: dict[str, Database] = {}
    try:
        problems += _phases(
            url, backend, args, folder, figures, db, scenario, rng, roles, connections
        )
    finally:
        for connection in connections.values():
            connection.dispose()
        db.dispose()
    return problems


def _phases(url, backend, args, folder, figures, db, scenario, rng, roles, connections):
    problems: list[str] = []

    started = time.time()
    initial = membership_states(db)
    for group, found in (duel_all(url, scenario) if scenario.duel_groups else {}).items():
        figures[f"{backend} duels"] += 1
        if found != expected_duel(scenario, group):
            problems.append(f"duel in {group}: {found}")
    problems += [f"after the duels: {p}" for p in verify(db, initial)]
    _say(f"[{backend}] {len(scenario.duel_groups)} duels in {time.time() - started:.1f}s")

    seats: list[Seat] = []
    if roles is not None:
        started = time.time()
        seats = bind(url, scenario, roles, folder)
        bound_since = last_event_id(db)

        def check(where: str) -> list[str]:
            found = checkpoint(url, db, seats, since=bound_since)
            figures[f"{backend} checkpoints (audit verify, check, logins)"] += 1
            return [f"{where}: {p}" for p in found]

        problems += check("after binding")
        _say(
            f"[{backend}] bound mode: {len(seats)} login roles granted and mapped "
            f"in {time.time() - started:.1f}s"
        )

    started = time.time()
    initial, since = membership_states(db), last_event_id(db)
    watched: list[str] = []
    outcomes = run_workers(
        url,
        scenario,
        workers=args.workers,
        iterations=args.iterations,
        folder=folder,
        seed=args.seed,
        seats=seats or None,
        watch=(lambda: watched.extend(check("while the workers write"))) if seats else None,
    )
    found = verify(db, initial, outcomes, since=since)
    problems += [f"concurrency: {p}" for p in found] + watched
    if seats:
        problems += check("after the workers")
    tally = Counter(o.get("outcome") or o.get("refused") or "error" for o in outcomes)
    figures[f"{backend} operations"] += len(outcomes)
    _say(
        f"[{backend}] {args.workers} workers x {args.iterations} operations in "
        f"{time.time() - started:.1f}s: {dict(tally)}; problems: {len(found)}"
    )

    started = time.time()
    for kill in range(args.kills):
        report = kill_apply_and_resume(
            url,
            db,
            scenario,
            folder,
            rng,
            rows=args.rows,
            hands=hands(seats, kill, connections) if seats else None,
        )
        figures[f"{backend} kills"] += 1
        mid_run = report.killed and report.run is not None and report.progress_at_kill < report.rows
        figures[f"{backend} kills mid-run (rows pending)"] += int(mid_run)
        figures[f"{backend} kills before the run was written"] += int(report.run is None)
        figures[f"{backend} resumes"] += report.resumes
        problems += [f"kill {kill}: {p}" for p in report.problems]
        _say(
            f"[{backend}] kill {kill + 1}/{args.kills}: run {report.run}, "
            f"{report.progress_at_kill}/{report.rows} rows done at the kill, "
            f"{report.resumes} resume(s), problems: {len(report.problems)}"
        )
        if seats and (kill + 1) % 10 == 0:
            problems += check(f"after kill {kill + 1}")
    _say(f"[{backend}] {args.kills} kills in {time.time() - started:.1f}s")

    if backend == "postgresql":
        for number in range(args.terminations):
            found = terminate_mid_run(
                url,
                db,
                scenario,
                folder,
                hands=hands(seats, number, connections) if seats else None,
            )
            figures[f"{backend} connections terminated mid-run"] += 1
            problems += [f"termination {number}: {p}" for p in found]
            _say(f"[{backend}] termination {number + 1}: problems: {len(found)}")
    if seats:
        found = check("at the end")
        problems += found
        _say(
            f"[{backend}] bound mode at the end: audit verify, check, logins: {len(found)} problems"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.stress.stress",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workers", type=int, default=6, help="concurrent processes")
    parser.add_argument("--iterations", type=int, default=200, help="operations per worker")
    parser.add_argument("--kills", type=int, default=40, help="SIGKILLed applies per backend")
    parser.add_argument("--terminations", type=int, default=3, help="PostgreSQL only")
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--members", type=int, default=40, help="members per group")
    parser.add_argument("--duels", type=int, default=15, help="duel groups")
    parser.add_argument("--rows", type=int, default=150, help="rows per killed plan")
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--unbound", action="store_true", help="PostgreSQL without login roles (bound by default)"
    )
    args = parser.parse_args(argv)
    if not args.unbound and args.workers < 2:
        parser.error("bound mode needs at least 2 workers (plans are approved by another)")
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    _say(f"stress: seed {args.seed} (replay with --seed {args.seed})")

    # a terminated run still drops its database and login roles on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(f"stress: terminated, seed {args.seed}"))
    server = os.environ.get("OPSKIT_TEST_POSTGRES_URL", PG_SERVER_DEFAULT)
    problems: list[str] = []
    figures: Counter = Counter()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="opskit-stress-") as tmp:
        folder = Path(tmp)
        if args.backend in ("postgresql", "both"):
            # the roles outlive the database: it is dropped first, then they are
            with (
                LoginRoles(server, 0 if args.unbound else args.workers) as roles,
                PostgresDatabase(server) as url,
            ):
                bound = None if args.unbound else roles
                problems += run_backend(url, "postgresql", args, folder, figures, roles=bound)
        if args.backend in ("sqlite", "both"):
            url = f"sqlite:///{folder / 'stress.db'}"
            problems += run_backend(url, "sqlite", args, folder, figures)
    _say(f"\nstress: {time.time() - started:.0f}s, seed {args.seed}")
    for key, value in sorted(figures.items()):
        _say(f"  {key}: {value}")
    if problems:
        _say(f"\n{len(problems)} problem(s):")
        for problem in problems:
            _say(f"  - {problem}")
        return 1
    _say("no problems: every change once, with one event; nothing lost; no group locked out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
