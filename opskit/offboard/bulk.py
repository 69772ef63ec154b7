"""What every bulk step shares: the batch size, ids in chunks, the paused collector."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..collector import collector_paused  # noqa: F401  (the bulk steps import it from here)

# Rows per batch transaction. Larger batches rewrite the pages of the randomly ordered
# indexes (memberships by user and by last sign-in) fewer times: offboarding 100,000 of
# 200,000 on SQLite wrote 826 MB at 10,000 a batch, 605 MB at 25,000, and took about 5-10%
# less time; a batch then holds the write lock (SQLite) or its groups' locks (PostgreSQL)
# for about 2-3 seconds, which a single change elsewhere waits out.
BATCH_SIZE = 25_000
CHUNK = 5000  # ids per statement: far below SQLite's and PostgreSQL's bind limits


def chunks(values: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# what a bulk run (or its undo) writes to: analysed when it ends, so that the first
# query after it has a plan made for the tables as they now are (PostgreSQL)
BULK_TABLES = (
    "appointments",  # a hand-off moves or cancels a leaver's diary
    "memberships",
    "sessions",
    "audit_events",
    "settings_snapshots",
    "offboard_run_rows",
)
