"""a run's plan moves to its own table, offboard_run_plans

Revision ID: 0007_run_plans
Revises: 0006_ledger_index

SQLite rewrites a whole row whenever one of its values changes, so each change of a
run's state (done, interrupted, undone) read and rewrote the plan the run keeps: for
a run of 500,000 rows, 95 MB, with both copies in memory at once at the end of the
run. The plan is written once, so it now has a row of its own.
"""

import sqlite3

import sqlalchemy as sa
from alembic import op

from opskit.errors import DatabaseUnavailable

revision = "0007_run_plans"
down_revision = "0006_ledger_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    in_place = bind.dialect.name != "sqlite" or sqlite3.sqlite_version_info >= (3, 35)
    if not in_place:
        # SQLite before 3.35 drops a column by copying the table, and the ledger's
        # foreign key forbids dropping the old copy while runs exist. Without runs (a
        # new database, say) nothing is lost by copying the table first.
        if bind.execute(sa.text("SELECT count(*) FROM offboard_runs")).scalar():
            raise DatabaseUnavailable(
                "this database has offboarding runs; upgrading it needs SQLite 3.35 or "
                f"later, and this Python has SQLite {sqlite3.sqlite_version}"
            )
        with op.batch_alter_table("offboard_runs", recreate="always") as batch_op:
            batch_op.drop_column("plan")
    op.create_table(
        "offboard_run_plans",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["offboard_runs.run_id"],
            name=op.f("fk_offboard_run_plans_run_id_offboard_runs"),
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_offboard_run_plans")),
    )
    if in_place:
        op.execute(
            "INSERT INTO offboard_run_plans (run_id, plan) SELECT run_id, plan FROM offboard_runs"
        )
        op.drop_column("offboard_runs", "plan")


def downgrade() -> None:
    # The column comes back nullable (0006 had it NOT NULL): every run gets its plan
    # back, and making it NOT NULL would copy the table on SQLite, which the ledger's
    # foreign key forbids while runs exist.
    op.add_column("offboard_runs", sa.Column("plan", sa.Text(), nullable=True))
    op.execute(
        "UPDATE offboard_runs SET plan = (SELECT p.plan FROM offboard_run_plans p "
        "WHERE p.run_id = offboard_runs.run_id)"
    )
    op.drop_table("offboard_run_plans")
