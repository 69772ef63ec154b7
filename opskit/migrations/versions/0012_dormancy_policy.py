"""dormancy policy per group, exemptions, and an index for a member's latest record

Revision ID: 0012_dormancy_policy
Revises: 0008_run_process

``dormancy_policies`` holds a group's dormant and grace days (who set them, when);
``dormancy_exemptions`` members left out of the dormant report until a date. The
dormant report asks for a member's latest patient record, which the new index on
(group_id, practitioner_id, created_at) answers without reading their records.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_dormancy_policy"
down_revision = "0011_appointment_status"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dormancy_policies",
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("dormant_days", sa.Integer(), nullable=True),
        sa.Column("grace_days", sa.Integer(), nullable=True),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "dormant_days IS NULL OR dormant_days >= 0",
            name=op.f("ck_dormancy_policies_dormant_days"),
        ),
        sa.CheckConstraint(
            "grace_days IS NULL OR grace_days >= 0", name=op.f("ck_dormancy_policies_grace_days")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.group_id"], name=op.f("fk_dormancy_policies_group_id_groups")
        ),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_dormancy_policies")),
    )
    op.create_table(
        "dormancy_exemptions",
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id", "user_id"],
            ["memberships.group_id", "memberships.user_id"],
            name=op.f("fk_dormancy_exemptions_group_id_memberships"),
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_dormancy_exemptions")),
    )
    op.create_index(
        op.f("ix_patient_records_practitioner_created"),
        "patient_records",
        ["group_id", "practitioner_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_patient_records_practitioner_created", table_name="patient_records")
    op.drop_table("dormancy_exemptions")
    op.drop_table("dormancy_policies")
