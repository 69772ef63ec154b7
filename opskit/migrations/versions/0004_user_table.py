"""indexes for the user table: pages of a million members without sorting them all

Revision ID: 0004_user_table
Revises: 0005_audit_append_only

The user table shows one page at a time, active members first, sorted by name, email,
group or last sign-in. These indexes let a page walk members in that order and stop
after the page instead of sorting every member:

- users (name, email_key): members by name;
- memberships (user_id, status, group_id): from a user to their memberships of one
  status without reading the membership rows;
- memberships (status, last_sign_in_at, membership_id): members of one status by last
  sign-in, ties in a fixed order (also what the dormant report filters on).
"""

from alembic import op

revision = "0004_user_table"
down_revision = "0005_audit_append_only"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_users_name_email", "users", ["name", "email_key"])
    op.create_index(
        "ix_memberships_user_status_group", "memberships", ["user_id", "status", "group_id"]
    )
    op.create_index(
        "ix_memberships_status_last_sign_in",
        "memberships",
        ["status", "last_sign_in_at", "membership_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_memberships_status_last_sign_in", table_name="memberships")
    op.drop_index("ix_memberships_user_status_group", table_name="memberships")
    op.drop_index("ix_users_name_email", table_name="users")
