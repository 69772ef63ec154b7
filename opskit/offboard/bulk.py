"""What every bulk step shares: the batch size, ids in chunks, the paused collector."""

from __future__ import annotations

import functools
import gc
from collections.abc import Iterator, Sequence

# Rows per batch transaction. Larger batches rewrite the pages of the randomly ordered
# indexes (memberships by user and by last sign-in) fewer times: offboarding 100,000 of
# 200,000 on SQLite wrote 826 MB at 10,000 a batch, 605 MB at 25,000, and took about 5-10%
# less time; a batch then holds the write lock (SQLite) or its groups' locks (PostgreSQL)
# for about 2-3 seconds, which a single change elsewhere waits out.
BATCH_SIZE = 25_000
CHUNK = 5000  # ids per statement: far below SQLite's and PostgreSQL's bind limits


def collector_paused(work):
    """Run ``work`` with Python's cyclic garbage collector paused.

    Bulk work makes objects by the hundred thousand: the plan's rows, which live for
    the whole call, and rows read and written, which reference counting frees. None of
    them forms a cycle, yet the collector, triggered by allocations, walks the
    long-lived ones again and again: about a tenth of an apply, to find a few thousand
    cyclic objects (SQLAlchemy's: 10 MB at the peak of a 100,000-member apply, 36 MB of
    500,000), which it collects on its usual schedule once the call returns. The
    caller's process is left as it was."""

    @functools.wraps(work)
    def paused(*args, **kwargs):
        if not gc.isenabled():
            return work(*args, **kwargs)
        gc.disable()
        try:
            return work(*args, **kwargs)
        finally:
            gc.enable()

    return paused


def chunks(values: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# what a bulk run (or its undo) writes to: analysed when it ends, so that the first
# query after it has a plan made for the tables as they now are (PostgreSQL)
BULK_TABLES = (
    "memberships",
    "sessions",
    "audit_events",
    "settings_snapshots",
    "offboard_run_rows",
)
