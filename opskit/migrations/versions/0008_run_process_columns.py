"""a run's process and heartbeat in columns of offboard_runs; older runs converted

Revision ID: 0008_run_process
Revises: 0007_run_plans

The process working on a run (host, pid, the pid's start time) and its heartbeat were
kept inside the run's options JSON, so every heartbeat rewrote the options. They now
have columns of their own, and the options hold only how the run was started
(``offboard.runs.RunOptions``). Runs written by earlier versions are converted here, so
that opskit has one shape of run to read:

- the process and heartbeat move from the options to the columns;
- a run without ``rows`` in its options (versions that wrote a ledger row for every
  plan row up front, NULL until decided) gets its row count from its ledger, and its
  NULL ledger rows are deleted: a pending plan row is one without a ledger row;
- a stored plan written a row a line gets each line wrapped as an array of rows.

The downgrade puts the process back into the options and drops the columns.
"""

import json
import sqlite3

import sqlalchemy as sa
from alembic import op

from opskit.errors import DatabaseUnavailable

revision = "0008_run_process"
down_revision = "0007_run_plans"
branch_labels = None
depends_on = None

_PROCESS_COLUMNS = ("process_host", "process_pid", "process_pid_start", "heartbeat")
_BATCH_SIZE = 25_000  # the batch size of the versions that did not always record one


def upgrade() -> None:
    op.add_column("offboard_runs", sa.Column("process_host", sa.String(255), nullable=True))
    op.add_column("offboard_runs", sa.Column("process_pid", sa.Integer(), nullable=True))
    op.add_column("offboard_runs", sa.Column("process_pid_start", sa.String(32), nullable=True))
    op.add_column("offboard_runs", sa.Column("heartbeat", sa.Float(), nullable=True))
    bind = op.get_bind()
    runs = bind.execute(sa.text("SELECT run_id, options FROM offboard_runs")).all()
    for run_id, text in runs:
        options = json.loads(text or "{}")
        process = options.pop("process", None) or {}
        if "rows" not in options:
            options["rows"] = bind.execute(
                sa.text("SELECT count(*) FROM offboard_run_rows WHERE run_id = :run"),
                {"run": run_id},
            ).scalar_one()
            bind.execute(
                sa.text("DELETE FROM offboard_run_rows WHERE run_id = :run AND result IS NULL"),
                {"run": run_id},
            )
        converted = {
            "rows": int(options["rows"]),
            "resolve_checklist": bool(options.get("resolve_checklist")),
            "batch_size": int(options.get("batch_size") or _BATCH_SIZE),
            "source": str(options.get("source") or ""),
            "planned_at": str(options.get("planned_at") or ""),
        }
        bind.execute(
            sa.text(
                "UPDATE offboard_runs SET options = :options, process_host = :host, "
                "process_pid = :pid, process_pid_start = :pid_start, heartbeat = :heartbeat "
                "WHERE run_id = :run"
            ),
            {
                "run": run_id,
                "options": json.dumps(converted, sort_keys=True),
                "host": process.get("host"),
                "pid": int(process["pid"]) if process.get("pid") is not None else None,
                "pid_start": process.get("pid_start"),
                "heartbeat": float(process.get("heartbeat") or 0) if process else None,
            },
        )
        _arrays_of_rows(bind, run_id)


def _arrays_of_rows(bind, run_id: str) -> None:
    """Rewrite a stored plan written a row a line (``[1, ...],``) as arrays of rows
    (``[[1, ...]],``), the one shape opskit reads. A row starts with its number, so a
    line of rows starts with ``[[`` and a line of one row does not."""
    plan = bind.execute(
        sa.text("SELECT plan FROM offboard_run_plans WHERE run_id = :run"), {"run": run_id}
    ).scalar()
    if plan is None:
        return
    lines = plan.split("\n")
    changed = False
    for index, line in enumerate(lines[1:], start=1):
        if line.startswith("[") and not line.startswith("[["):
            comma = line.endswith(",")
            lines[index] = "[" + line.removesuffix(",") + "]" + ("," if comma else "")
            changed = True
    if changed:
        bind.execute(
            sa.text("UPDATE offboard_run_plans SET plan = :plan WHERE run_id = :run"),
            {"plan": "\n".join(lines), "run": run_id},
        )


def downgrade() -> None:
    bind = op.get_bind()
    in_place = bind.dialect.name != "sqlite" or sqlite3.sqlite_version_info >= (3, 35)
    runs = bind.execute(
        sa.text(
            "SELECT run_id, options, process_host, process_pid, process_pid_start, heartbeat "
            "FROM offboard_runs"
        )
    ).all()
    if runs and not in_place:
        raise DatabaseUnavailable(
            "this database has offboarding runs; downgrading it needs SQLite 3.35 or "
            f"later, and this Python has SQLite {sqlite3.sqlite_version}"
        )
    for run_id, text, host, pid, pid_start, heartbeat in runs:
        options = json.loads(text or "{}")
        if host is not None:
            options["process"] = {
                "host": host,
                "pid": pid,
                "pid_start": pid_start,
                "heartbeat": heartbeat,
            }
        bind.execute(
            sa.text("UPDATE offboard_runs SET options = :options WHERE run_id = :run"),
            {"options": json.dumps(options, sort_keys=True), "run": run_id},
        )
    if in_place:
        for column in _PROCESS_COLUMNS:
            op.drop_column("offboard_runs", column)
    else:
        with op.batch_alter_table("offboard_runs", recreate="always") as batch_op:
            for column in _PROCESS_COLUMNS:
                batch_op.drop_column(column)
