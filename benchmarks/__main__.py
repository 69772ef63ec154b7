"""All of opskit's benchmarks in one run: ``make bench`` (or ``python -m benchmarks``).

    make bench                                  # SQLite, 1,000,000 memberships
    make bench BENCH_ARGS="--pg postgresql://postgres@127.0.0.1:5432/postgres"
    make bench BENCH_ARGS="--members 200000 --skip-offboard"

0. Times the start of ``opskit --help`` (target: under a third of a second).
1. Loads the synthetic dataset (``opskit demo --members N --seed S``) into a fresh
   database and prints the load time (target: about two minutes at 1,000,000).
2. Runs the checklist, report and user-table benchmarks on it; each prints its own
   figures with the target it is held to.
3. Runs the bulk offboarding benchmark (``offboard_bench``: the shared yardstick's data
   at 20,000 and 200,000 memberships, 1,000,000 with ``--large``; plan and apply as whole
   processes against the raw-SQL floor, then the hand-off's cost).

Timings are wall-clock on a shared 2-core machine: read them beside the baselines
printed in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from opskit.db import connect
from opskit.synthetic import load_synthetic

from . import checklist_bench, offboard_bench, reports_bench, startup_bench, user_table_bench

DEMO_NOW = "2026-07-01T09:00:00Z"
WORKDIR = Path(__file__).resolve().parent.parent / "build" / "bench"


def _load(url: str, members: int, seed: int) -> float:
    db = connect(url, create=True)
    started = time.perf_counter()
    load_synthetic(db, members=members, seed=seed)
    seconds = time.perf_counter() - started
    db.dispose()
    return seconds


def _print(title: str, rows: list[tuple[str, float, str]]) -> None:
    print(f"\n{title}")
    for name, seconds, note in rows:
        print(f"  {name:<58} {seconds:8.3f} s  {note}")


def _suite(url: str, label: str) -> None:
    _print(f"checklist ({label})", checklist_bench.run(url))
    _print(f"reports ({label})", reports_bench.run(url))
    _print(f"user table ({label})", user_table_bench.run(url))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000, help="synthetic memberships")
    parser.add_argument("--seed", type=int, default=1, help="synthetic seed")
    parser.add_argument("--pg", metavar="URL", help="also on this PostgreSQL server")
    parser.add_argument("--skip-offboard", action="store_true", help="skip bulk offboarding")
    parser.add_argument("--large", action="store_true", help="offboarding at 1,000,000 too")
    options = parser.parse_args(argv)
    os.environ.setdefault("OPSKIT_NOW", DEMO_NOW)
    WORKDIR.mkdir(parents=True, exist_ok=True)
    _print("start-up", startup_bench.run())

    path = WORKDIR / f"synthetic-{options.members}-{options.seed}.db"
    for stale in WORKDIR.glob(f"{path.name}*"):
        stale.unlink()
    url = f"sqlite:///{path}"
    seconds = _load(url, options.members, options.seed)
    print(
        f"load {options.members:,} synthetic memberships (SQLite): {seconds:.1f} s (target ~120 s)"
    )
    _suite(url, f"SQLite, {options.members:,} memberships")

    if options.pg:
        server = sa.engine.make_url(options.pg.replace("postgresql://", "postgresql+psycopg://"))
        name = f"opskit_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        pg_url = server.set(database=name).render_as_string(hide_password=False)
        try:
            seconds = _load(pg_url, options.members, options.seed)
            print(f"\nload {options.members:,} synthetic memberships (PostgreSQL): {seconds:.1f} s")
            _suite(pg_url, f"PostgreSQL, {options.members:,} memberships")
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    if not options.skip_offboard:
        print("\nbulk offboarding")
        args = ["--large"] if options.large else []
        offboard_bench.main(args)
        if options.pg:
            offboard_bench.main([*args, "--pg", options.pg])
    return 0


if __name__ == "__main__":
    sys.exit(main())
