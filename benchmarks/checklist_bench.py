"""How long the pre-deactivation checklist takes on a large database.

    .venv/bin/opskit demo --members 1000000 --seed 1 --db sqlite:////tmp/m1.db
    OPSKIT_NOW=2026-07-01T09:00:00Z .venv/bin/python -m benchmarks.checklist_bench \\
        sqlite:////tmp/m1.db

Targets: one group well under a second (the median group, a large one and the largest
are timed), every group in a few seconds: the summary of every group (members per
group, item and state, counted in SQL). With ``--full`` the checklist of every group
is also timed as rows: six Python dicts per membership, bounded by building those
dicts rather than by the SQL, and several GB of memory at a million members.
Each case runs once to warm the cache, then ``REPEAT`` times; the figure is the
slowest run, the note gives rows and CPU seconds (wall time suffers on a busy host).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from opskit import schema as s
from opskit.checklist import checklist, checklist_summary
from opskit.db import Database, connect

GROUP_TARGET = 1.0
ALL_TARGET = 5.0
REPEAT = 3


def _groups_by_size(db: Database) -> list[tuple[str, int]]:
    """(group_id, members) for the median, the 99th percentile and the largest group."""
    m = s.memberships.c
    with db.read() as conn:
        sizes = conn.execute(
            select(m.group_id, func.count()).group_by(m.group_id).order_by(func.count(), m.group_id)
        ).all()
    if not sizes:
        return []
    picks = [sizes[len(sizes) // 2], sizes[min(len(sizes) - 1, len(sizes) * 99 // 100)], sizes[-1]]
    return list(dict.fromkeys((group_id, int(n)) for group_id, n in picks))


def _time(work: Callable[[], list[Any]], repeat: int) -> tuple[float, float, int]:
    rows = work()  # warm-up
    slowest = cpu = 0.0
    for _ in range(repeat):
        rows = []  # the last repeat's rows are freed before the clock starts, not in it
        start, start_cpu = time.perf_counter(), time.process_time()
        rows = work()
        slowest = max(slowest, time.perf_counter() - start)
        cpu = max(cpu, time.process_time() - start_cpu)
    return slowest, cpu, len(rows)


def run(db_url: str | None = None, *, full_rows: bool = False) -> list[tuple[str, float, str]]:
    """Time the checklist on ``db_url``: (name, seconds, note) per measurement.

    ``full_rows`` also times the checklist of every group as rows (about 6 rows and
    a few kB of memory per membership).
    """
    db = connect(db_url)
    try:
        cases: list[tuple[str, Callable[[], list[Any]], float, int]] = []
        for group_id, members in _groups_by_size(db):
            cases.append(
                (
                    f"checklist --group {group_id} ({members} members)",
                    lambda group_id=group_id: checklist(db, group=group_id),
                    GROUP_TARGET,
                    REPEAT,
                )
            )
        cases.append(
            ("checklist summary, every group", lambda: checklist_summary(db), ALL_TARGET, 1)
        )
        if full_rows:
            cases.append(("checklist, every group (rows)", lambda: checklist(db), ALL_TARGET, 1))
        results = []
        for name, work, target, repeat in cases:
            seconds, cpu, rows = _time(work, repeat)
            verdict = "ok" if seconds <= target else f"over the {target:g} s target"
            results.append(
                (name, seconds, f"{rows} rows, {db.dialect}, {cpu:.2f} s CPU; {verdict}")
            )
        return results
    finally:
        db.dispose()


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if a != "--full"]
    results = run(args[0] if args else None, full_rows="--full" in argv)
    width = max(len(name) for name, _, _ in results)
    for name, seconds, note in results:
        print(f"{name.ljust(width)}  {seconds:7.3f} s  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
