"""Least privilege on PostgreSQL (docs/rules.md 9.1): ``opskit grant ROLE``.

The schema's owner (the role that ran the migrations) runs it. ROLE gets what opskit
needs to read and to change members, and nothing more: no DDL (it owns nothing and
may create nothing in the schema), no TRUNCATE, no trigger changes (only an owner may),
no UPDATE or DELETE of audit events, no change to the operator mapping; the ``login``
of audit events and approvals is left out of its INSERT privilege, so the server's
``session_user`` (the column's default) is what it writes there.
"""

from __future__ import annotations

import re

from sqlalchemy import text

from . import schema as s
from .db import Database
from .errors import BadInput, Refused

_ROLE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")

# table -> privileges beyond SELECT (every table is readable)
WRITES: dict[str, str] = {
    "memberships": "UPDATE",
    "sessions": "INSERT, UPDATE",
    "booking_profiles": "INSERT, UPDATE",
    "integrations": "INSERT, UPDATE",
    "credit_settings": "INSERT, UPDATE",
    "reminder_levels": "INSERT, UPDATE, DELETE",  # resolving removes an individual level
    "export_grants": "INSERT",
    "settings_snapshots": "INSERT, UPDATE",  # restored_at
    "offboard_runs": "INSERT, UPDATE",
    "offboard_run_plans": "INSERT",
    "offboard_run_rows": "INSERT, UPDATE",
    "audit_chain": "INSERT, UPDATE",
    # opskit policy set | exempt (docs/rules.md 9.5): a group's policy and exemptions
    "dormancy_policies": "INSERT, UPDATE",
    "dormancy_exemptions": "INSERT, UPDATE",
    # locking a group's row (FOR UPDATE) needs UPDATE on one of its columns; the id is
    # the one whose change every member, location and appointment forbids (foreign keys)
    "groups": "UPDATE (group_id)",
}
# INSERT on named columns only: no event_id (the sequence) and no login (session_user)
_AUDIT_COLUMNS = [c.name for c in s.audit_events.columns if c.name not in ("event_id", "login")]
_APPROVAL_COLUMNS = [c.name for c in s.plan_approvals.columns if c.name != "login"]


def grant(db: Database, role: str) -> dict:
    """Give ``role`` what opskit needs on this database, and nothing more. Run it as
    the schema's owner; running it again resets the role to exactly these privileges."""
    if db.dialect != "postgresql":
        raise BadInput("opskit grant is for PostgreSQL; on SQLite the file's permissions decide")
    name = (role or "").strip()
    if not _ROLE.fullmatch(name):
        raise BadInput(f"{role!r} is not a role name", column="ROLE")
    with db.begin() as conn:
        # grants of several roles at once would update the same tables' privileges
        # side by side, which PostgreSQL refuses ("tuple concurrently updated"): queue
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('opskit grant'))"))
        found = conn.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": name}
        ).first()
        if found is None:
            raise BadInput(f"no role {name!r} on this server", column="ROLE")
        if found.rolsuper:
            raise Refused(f"role {name} is a superuser: no grant can limit what it does")
        owner = conn.execute(
            text("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_events'")
        ).scalar_one()
        if (
            owner == name
            or conn.execute(
                text("SELECT pg_has_role(:r, :o, 'USAGE')"), {"r": name, "o": owner}
            ).scalar_one()
        ):
            raise Refused(f"role {name} is (or acts as) the schema's owner {owner}")
        me = conn.execute(text("SELECT current_user")).scalar_one()
        if me != owner:
            raise Refused(f"run opskit grant as the schema's owner {owner}, not {me}")
        database = conn.execute(text("SELECT current_database()")).scalar_one()
        quoted = f'"{name}"'
        statements = [
            f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {quoted}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {quoted}",
            f"REVOKE CREATE ON SCHEMA public FROM {quoted}",
            f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO {quoted}',
            f"GRANT USAGE ON SCHEMA public TO {quoted}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {quoted}",
            f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
            *(f"GRANT {what} ON {table} TO {quoted}" for table, what in WRITES.items()),
            f"GRANT INSERT ({', '.join(_AUDIT_COLUMNS)}) ON audit_events TO {quoted}",
            f"GRANT INSERT ({', '.join(_APPROVAL_COLUMNS)}) ON plan_approvals TO {quoted}",
        ]
        for statement in statements:
            conn.exec_driver_sql(statement)
    return {"role": name, "database": database, "owner": owner, "outcome": "granted"}
