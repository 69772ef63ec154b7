"""an index for one practitioner's diary across groups

Revision ID: 0014_appointment_diary
Revises: 0013_check_indexes

A hand-off asks whether a successor is booked at a time in *any* group (it is one
person's diary), and how many future appointments each candidate has. The index on
(group_id, practitioner_id, starts_at) cannot answer that without reading the whole
table; (practitioner_id, starts_at, status) answers both from the index alone.
"""

from alembic import op

revision = "0014_appointment_diary"
down_revision = "0013_check_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_appointments_diary"), "appointments", ["practitioner_id", "starts_at", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_appointments_diary", table_name="appointments")
