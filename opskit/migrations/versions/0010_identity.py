"""who acts (operators), four-eyes approvals, and the audit trail's login and hash chain

Revision ID: 0010_identity
Revises: 0008_run_process

- ``operators``: a login mapped to the user it acts as (docs/rules.md 9.1, bound mode).
- ``plan_approvals``: a plan's digest approved by a second operator (9.2), with the
  login that approved (on PostgreSQL written by the server, as for audit events).
- ``audit_events.login``: who was logged in. On PostgreSQL its default is the server's
  ``session_user`` and ``opskit grant`` leaves the column out of the INSERT privilege,
  so a granted role cannot write another login there.
- ``audit_events.hash`` and ``audit_chain`` (one row: the last event and its hash):
  each event's hash chains it to the one before (``opskit.audit``). Events written by
  earlier versions are sealed into the chain here, oldest first, so that ``opskit audit
  verify`` holds from the upgrade on.
"""

import sqlalchemy as sa
from alembic import op

from opskit.audit import chain_hash

revision = "0010_identity"
down_revision = "0008_run_process"
branch_labels = None
depends_on = None

_SQLITE_NO_UPDATE = (
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN "
    "SELECT RAISE(ABORT, 'audit_events is append-only: opskit never updates or deletes "
    "an audit event (UPDATE refused)'); END"
)


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.create_table(
        "operators",
        sa.Column("login", sa.String(128), primary_key=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("users.user_id"), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
    )
    op.create_index("ix_operators_user_id", "operators", ["user_id"])
    op.create_table(
        "plan_approvals",
        sa.Column("plan", sa.String(64), primary_key=True),
        sa.Column("approved_by", sa.String(64), sa.ForeignKey("users.user_id"), primary_key=True),
        sa.Column("planned_by", sa.String(64), nullable=False),
        sa.Column("login", sa.String(128), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "audit_chain",
        sa.Column("chain_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.add_column("audit_events", sa.Column("login", sa.String(128), nullable=True))
    op.add_column("audit_events", sa.Column("hash", sa.String(64), nullable=True))
    if postgres:
        # set after the column exists, so that older events keep NULL (login unknown)
        op.execute("ALTER TABLE audit_events ALTER COLUMN login SET DEFAULT session_user")
        op.execute("ALTER TABLE plan_approvals ALTER COLUMN login SET DEFAULT session_user")
    _seal_existing_events(bind, postgres)


def _seal_existing_events(bind, postgres: bool) -> None:
    events = bind.execute(
        sa.text(
            "SELECT event_id, at, actor_id, group_id, user_id, action, item, before, after, "
            "reason, run_id, login FROM audit_events ORDER BY event_id"
        )
    ).all()
    if not events:
        return
    previous = ""
    hashes = []
    for event in events:
        previous = chain_hash(previous, event._mapping)
        hashes.append({"id": event.event_id, "hash": previous})
    # the append-only trigger refuses UPDATE: lifted for this one sealing write
    if postgres:
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
    bind.execute(sa.text("UPDATE audit_events SET hash = :hash WHERE event_id = :id"), hashes)
    if postgres:
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
    else:
        op.execute(_SQLITE_NO_UPDATE)
    bind.execute(
        sa.text("INSERT INTO audit_chain (chain_id, last_event_id, hash) VALUES (1, :id, :hash)"),
        hashes[-1],
    )


def downgrade() -> None:
    op.drop_column("audit_events", "hash")
    op.drop_column("audit_events", "login")
    op.drop_table("audit_chain")
    op.drop_table("plan_approvals")
    op.drop_index("ix_operators_user_id", table_name="operators")
    op.drop_table("operators")
