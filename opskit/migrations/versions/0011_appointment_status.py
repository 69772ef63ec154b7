"""appointments gain a status: booked or cancelled

Revision ID: 0011_appointment_status
Revises: 0008_run_process

A hand-off (docs/rules.md, "Hand-off") may cancel a leaver's future appointments; a
cancelled appointment stays in the table with ``status = 'cancelled'``, since opskit
deletes nothing. Every existing appointment is booked.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_appointment_status"
down_revision = "0010_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appointments") as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(10), nullable=False, server_default="booked")
        )
        batch_op.create_check_constraint("status", "status IN ('booked', 'cancelled')")


def downgrade() -> None:
    with op.batch_alter_table("appointments") as batch_op:
        batch_op.drop_constraint("status", type_="check")
        batch_op.drop_column("status")
