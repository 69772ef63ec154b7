"""partial indexes for the invariants of ``opskit check`` and R4

Revision ID: 0013_check_indexes
Revises: 0012_dormancy_policy

``opskit check`` and R4's lock-out guard read a few kinds of membership: the active
Full Access members of each group (and which of them own it), the inactive members,
and the members whose status opskit changed. Each is a small part of the table, yet
every query read all of it (a million rows for a check). A partial index per kind holds
only those rows, with the columns the queries need, so they read nothing else.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_check_indexes"
down_revision = "0012_dormancy_policy"
branch_labels = None
depends_on = None

# as in opskit.schema (ACTIVE_FULL, INACTIVE, STATUS_CHANGED), fixed here as of 0013
INDEXES = (
    (
        "ix_memberships_active_full",
        ["group_id", "account_owner"],
        "status = 'active' AND access_level = 'full'",
    ),
    ("ix_memberships_inactive", ["group_id", "user_id"], "status = 'inactive'"),
    (
        "ix_memberships_status_changed",
        ["group_id", "user_id", "status"],
        "status_changed_at IS NOT NULL",
    ),
)


def upgrade() -> None:
    for name, columns, where in INDEXES:
        op.create_index(
            name,
            "memberships",
            columns,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def downgrade() -> None:
    for name, _columns, _where in INDEXES:
        op.drop_index(name, table_name="memberships")
