"""audit events are append-only: the database refuses UPDATE and DELETE on them

Revision ID: 0005_audit_append_only
Revises: 0001

opskit never updates or deletes an audit event (a test greps the code for it); these
triggers make the database refuse it too, whoever asks.

PostgreSQL: a statement-level BEFORE UPDATE OR DELETE trigger raises, so even an
UPDATE or DELETE that matches no row is refused. TRUNCATE is left alone on purpose:
it is how ``opskit load --replace`` replaces a whole database (audit trail included)
and how the test suite resets between tests; it needs the table's owner, which an
application role should not be.

SQLite: a BEFORE UPDATE trigger. DELETE is not refused there because ``load
--replace`` empties every table with DELETE on SQLite (SQLite has no TRUNCATE to tell
the two apart).
"""

from alembic import op

revision = "0005_audit_append_only"
down_revision = "0001"
branch_labels = None
depends_on = None

REFUSAL = "audit_events is append-only: opskit never updates or deletes an audit event"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION opskit_audit_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{REFUSAL} (% refused)', TG_OP
                    USING ERRCODE = 'restrict_violation';
            END
            $$
            """
        )
        op.execute(
            """
            CREATE TRIGGER audit_events_append_only
            BEFORE UPDATE OR DELETE ON audit_events
            FOR EACH STATEMENT EXECUTE FUNCTION opskit_audit_append_only()
            """
        )
    elif dialect == "sqlite":
        op.execute(
            f"""
            CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
            BEGIN
                SELECT RAISE(ABORT, '{REFUSAL} (UPDATE refused)');
            END
            """
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS opskit_audit_append_only()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
