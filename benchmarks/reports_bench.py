"""How long each report takes on a large database (target: under 2 s each at 1,000,000
memberships).

    .venv/bin/opskit demo --members 1000000 --seed 1 --db sqlite:////tmp/m1.db
    OPSKIT_NOW=2026-07-01T09:00:00Z .venv/bin/python -m benchmarks.reports_bench sqlite:////tmp/m1.db

The dormant report reads every active member's activity: sign-in, started appointments
and created patient records (SPEC 9.5), by each group's policy (``report dormant``) or
with the thresholds given (``--days 90 --grace-days 30``).

Each report runs once to warm the database cache, then three times; the figure is the
best wall-clock time of the three (the least disturbed by other work on the machine), and
the note gives the rows returned and the CPU time this process spent, which shows when a
busy machine, rather than the report, made a run slow.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import pandas as pd

from opskit.db import Database, connect
from opskit.reports import dormant_report, inactive_report, status_summary, trends_report

TARGET_SECONDS = 2.0
REPEAT = 3


def _some_group(db: Database) -> str | None:
    """The group with the most members: the slowest single-group report."""
    summary = status_summary(db)
    if summary.empty:
        return None
    totals = summary["active"] + summary["inactive"]
    return str(summary.loc[totals.idxmax(), "group_id"])


def _time(report: Callable[[], pd.DataFrame]) -> tuple[float, float, int]:
    """Best wall-clock seconds, best CPU seconds and rows of ``REPEAT`` warm runs."""
    report()  # warm-up: the database pages in the cache, the statements compiled
    wall, cpu, rows = float("inf"), float("inf"), 0
    for _ in range(REPEAT):
        start, start_cpu = time.perf_counter(), time.process_time()
        rows = len(report())
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu, rows


def run(db_url: str | None = None) -> list[tuple[str, float, str]]:
    """Time every report on ``db_url``: (name, seconds, note) per measurement."""
    db = connect(db_url, migrate=False)  # a benchmark only reads: never migrate
    try:
        group = _some_group(db)
        cases: list[tuple[str, Callable[[], pd.DataFrame]]] = [
            ("report inactive", lambda: inactive_report(db)),
            # each group's policy (table dormancy_policies, default 90/30 where none)
            ("report dormant", lambda: dormant_report(db)),
            (
                "report dormant --days 90 --grace-days 30",
                lambda: dormant_report(db, days=90, grace_days=30),
            ),
            ("report trends", lambda: trends_report(db)),
            ("report trends --summary", lambda: status_summary(db)),
        ]
        if group is not None:
            cases += [
                (f"report inactive --group {group}", lambda: inactive_report(db, group=group)),
                (f"report dormant --group {group}", lambda: dormant_report(db, group=group)),
                (f"report trends --group {group}", lambda: trends_report(db, group=group)),
            ]
        results = []
        for name, report in cases:
            seconds, cpu, rows = _time(report)
            verdict = "ok" if seconds <= TARGET_SECONDS else f"over the {TARGET_SECONDS:g} s target"
            note = f"{rows} rows, {db.dialect}, {cpu:.2f} s CPU; {verdict}"
            results.append((name, seconds, note))
        return results
    finally:
        db.dispose()


def main(argv: list[str]) -> int:
    results = run(argv[1] if len(argv) > 1 else None)
    width = max(len(name) for name, _, _ in results)
    for name, seconds, note in results:
        print(f"{name.ljust(width)}  {seconds:7.3f} s  {note}")
    return 0 if all(seconds <= TARGET_SECONDS for _, seconds, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
