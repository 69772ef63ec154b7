"""the run ledger loses its (run, result) index

Revision ID: 0006_ledger_index
Revises: 0004_user_table

Every ledger row is written once when a run starts and its result once when its batch
commits; the (run_id, result) index doubled the upkeep of both writes. Nothing needs
it: a run's rows are read through the primary key (run_id, row_no), and counting a
run's results reads those rows anyway.
"""

from alembic import op

revision = "0006_ledger_index"
down_revision = "0004_user_table"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_offboard_run_rows_pending", table_name="offboard_run_rows")


def downgrade() -> None:
    op.create_index("ix_offboard_run_rows_pending", "offboard_run_rows", ["run_id", "result"])
