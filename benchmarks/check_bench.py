"""``opskit check`` on a large PostgreSQL database right after ``opskit demo`` (issue 16).

    .venv/bin/python -m benchmarks.check_bench postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python -m benchmarks.check_bench SERVER_URL --members 20000   # a quick try

Makes a fresh database on the server, runs the real commands
``opskit demo --members N --seed 1`` and then, at once, ``opskit check`` (the first query
after a bulk write is the one that suffers without fresh planner statistics), prints
both times and drops the database. Target: the check under 10 s at 1,000,000 members.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

CHECK_TARGET = 10.0
OPSKIT = str(Path(sys.executable).with_name("opskit"))


def _opskit(*args: str, url: str) -> float:
    environment = {**os.environ, "OPSKIT_NOW": "2026-07-01T09:00:00Z"}
    started = time.perf_counter()
    done = subprocess.run(
        [OPSKIT, *args, "--db", url], capture_output=True, text=True, env=environment
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"opskit {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return seconds


def run(server: str, members: int) -> list[tuple[str, float, str]]:
    name = f"opskit_check_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        demo = _opskit("demo", "--members", str(members), "--seed", "1", url=url)
        check = _opskit("check", url=url)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    verdict = "ok" if check < CHECK_TARGET else "OVER TARGET"
    return [
        (f"opskit demo --members {members:,}", demo, "load, then ANALYZE"),
        ("opskit check, right after", check, f"target {CHECK_TARGET:g} s at 1,000,000: {verdict}"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", help="a PostgreSQL server URL (a database to connect to)")
    parser.add_argument("--members", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    server = args.server
    if server.startswith("postgresql://"):
        server = "postgresql+psycopg://" + server.split("://", 1)[1]
    for label, seconds, note in run(server, args.members):
        print(f"  {label:<40} {seconds:8.3f} s  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
