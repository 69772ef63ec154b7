"""The database schema: every entity of the domain, plus audit, snapshots and run ledgers.

Times are stored as naive UTC. Ids from the dataset are text. Each membership also
has an integer ``membership_id`` so that set-based statements can name members cheaply.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

ROLES = ("practitioner", "administrator")
LEVELS = {
    "practitioner": ("personal", "own_records_and_contacts", "clinical", "full"),
    "administrator": ("personal", "front_desk", "billing", "full"),
}
ALL_LEVELS = tuple(dict.fromkeys(LEVELS["practitioner"] + LEVELS["administrator"]))
FULL = "full"
STATUSES = ("active", "inactive")
DIRECTORY_PROFILES = ("public", "enabled_not_searchable", "hidden")
ONLINE_BOOKINGS = ("enabled", "disabled")
APPOINTMENT_STATUSES = ("booked", "cancelled")


class Action(enum.StrEnum):
    """What an audit event records."""

    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    ACCESS_CHANGED = "access_changed"
    CHECKLIST_RESOLVED = "checklist_resolved"
    SETTINGS_RESTORED = "settings_restored"
    EXPORT_GRANTED = "export_granted"
    # docs/rules.md, contract additions: who acts, four-eyes review, hand-off
    OPERATOR_ADDED = "operator_added"
    OPERATOR_REMOVED = "operator_removed"
    PLAN_APPROVED = "plan_approved"
    APPOINTMENT_REASSIGNED = "appointment_reassigned"
    APPOINTMENT_CANCELLED = "appointment_cancelled"
    # dormancy policy (opskit.policy)
    POLICY_SET = "policy_set"
    POLICY_EXEMPTED = "policy_exempted"


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _partial(name: str, *columns: str, where: str) -> Index:
    """An index of only the rows ``where`` holds for, on both backends. A query uses it
    when its WHERE clause states ``where`` with the same literal values (SQLite does not
    look into bound parameters): ``invariants`` and ``rules`` write them so."""
    return Index(name, *columns, sqlite_where=text(where), postgresql_where=text(where))


# The rows the invariants of ``opskit check`` (and R4) read, so that they read only those
# (migration 0013): few, where a scan would read every membership.
ACTIVE_FULL = "status = 'active' AND access_level = 'full'"
INACTIVE = "status = 'inactive'"
STATUS_CHANGED = "status_changed_at IS NOT NULL"


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

groups = Table(
    "groups",
    metadata,
    Column("group_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
)

users = Table(
    "users",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("email", String(320), nullable=False),
    # lower(trim(email)): emails match case-insensitively (R11)
    Column("email_key", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    # the user table walks members by name instead of sorting them all (migration 0004)
    Index("ix_users_name_email", "name", "email_key"),
)

memberships = Table(
    "memberships",
    metadata,
    Column("membership_id", Integer, primary_key=True, autoincrement=True),
    Column("group_id", String(64), ForeignKey("groups.group_id"), nullable=False),
    Column("user_id", String(64), ForeignKey("users.user_id"), nullable=False),
    Column("role", String(20), nullable=False),
    Column("access_level", String(40), nullable=False),
    Column("read_only", Boolean, nullable=False, default=False),
    Column("account_owner", Boolean, nullable=False, default=False),
    Column("status", String(10), nullable=False, default="active"),
    Column("joined_at", DateTime, nullable=True),
    Column("last_sign_in_at", DateTime, nullable=True),
    # who / when / why of the last status change
    Column("status_changed_at", DateTime, nullable=True),
    Column("status_changed_by", String(64), nullable=True),
    Column("status_reason", Text, nullable=True),
    UniqueConstraint("group_id", "user_id"),
    CheckConstraint(_in("role", ROLES), name="role"),
    CheckConstraint(_in("status", STATUSES), name="status"),
    CheckConstraint(_in("access_level", ALL_LEVELS), name="access_level"),
    CheckConstraint("NOT (read_only AND access_level = 'full')", name="read_only_below_full"),
    CheckConstraint("NOT account_owner OR access_level = 'full'", name="owner_is_full"),
    Index("ix_memberships_group_status_level", "group_id", "status", "access_level"),
    Index("ix_memberships_user_id", "user_id"),
    # the user table: from a user to their memberships without reading the rows, and
    # members of one status by last sign-in (migration 0004)
    Index("ix_memberships_user_status_group", "user_id", "status", "group_id"),
    Index("ix_memberships_status_last_sign_in", "status", "last_sign_in_at", "membership_id"),
    # R4 and ``opskit check`` (migration 0013): a group's active Full Access members and
    # owners; inactive members (signed in still?); members whose status opskit changed
    _partial("ix_memberships_active_full", "group_id", "account_owner", where=ACTIVE_FULL),
    _partial("ix_memberships_inactive", "group_id", "user_id", where=INACTIVE),
    _partial(
        "ix_memberships_status_changed", "group_id", "user_id", "status", where=STATUS_CHANGED
    ),
)

sessions = Table(
    "sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("group_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("device", String(200), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
    ForeignKeyConstraint(["group_id", "user_id"], ["memberships.group_id", "memberships.user_id"]),
    Index("ix_sessions_member_open", "group_id", "user_id", "revoked_at"),
)

locations = Table(
    "locations",
    metadata,
    Column("location_id", String(64), primary_key=True),
    Column("group_id", String(64), ForeignKey("groups.group_id"), nullable=False),
    Column("name", String(200), nullable=False),
)

booking_profiles = Table(
    "booking_profiles",
    metadata,
    Column("group_id", String(64), primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("location_id", String(64), ForeignKey("locations.location_id"), primary_key=True),
    Column("directory_profile", String(30), nullable=False),
    Column("online_bookings", String(10), nullable=False),
    ForeignKeyConstraint(["group_id", "user_id"], ["memberships.group_id", "memberships.user_id"]),
    CheckConstraint(_in("directory_profile", DIRECTORY_PROFILES), name="directory_profile"),
    CheckConstraint(_in("online_bookings", ONLINE_BOOKINGS), name="online_bookings"),
)

integrations = Table(
    "integrations",
    metadata,
    Column("group_id", String(64), primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("kind", String(60), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    ForeignKeyConstraint(["group_id", "user_id"], ["memberships.group_id", "memberships.user_id"]),
)

credit_settings = Table(
    "credit_settings",
    metadata,
    Column("credit_setting_id", Integer, primary_key=True, autoincrement=True),
    Column("group_id", String(64), ForeignKey("groups.group_id"), nullable=False),
    # NULL: the group's own row
    Column("user_id", String(64), ForeignKey("users.user_id"), nullable=True),
    Column("auto_top_up", Boolean, nullable=False),
    Column("trigger_balance", Numeric(12, 2), nullable=False),
    Index("ix_credit_settings_member", "group_id", "user_id", unique=True),
)

reminder_levels = Table(
    "reminder_levels",
    metadata,
    Column("reminder_level_id", Integer, primary_key=True, autoincrement=True),
    Column("group_id", String(64), ForeignKey("groups.group_id"), nullable=False),
    # NULL: the group default
    Column("user_id", String(64), ForeignKey("users.user_id"), nullable=True),
    Column("name", String(100), nullable=False),
    Index("ix_reminder_levels_member", "group_id", "user_id", unique=True),
)

export_grants = Table(
    "export_grants",
    metadata,
    Column("group_id", String(64), primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("granted_at", DateTime, nullable=False),
    ForeignKeyConstraint(["group_id", "user_id"], ["memberships.group_id", "memberships.user_id"]),
)

appointments = Table(
    "appointments",
    metadata,
    Column("appointment_id", String(64), primary_key=True),
    Column("group_id", String(64), ForeignKey("groups.group_id"), nullable=False),
    Column("practitioner_id", String(64), ForeignKey("users.user_id"), nullable=False),
    Column("patient_id", String(64), nullable=False),
    Column("starts_at", DateTime, nullable=False),
    # booked | cancelled (migration 0011): a hand-off may cancel, nothing deletes
    Column("status", String(10), nullable=False, default="booked", server_default="booked"),
    CheckConstraint(_in("status", APPOINTMENT_STATUSES), name="status"),
    Index("ix_appointments_practitioner", "group_id", "practitioner_id", "starts_at"),
    # one person's diary across groups: is a successor booked then (migration 0014)
    Index("ix_appointments_diary", "practitioner_id", "starts_at", "status"),
)

patient_records = Table(
    "patient_records",
    metadata,
    Column("record_id", String(64), primary_key=True),
    Column("group_id", String(64), ForeignKey("groups.group_id"), nullable=False),
    Column("practitioner_id", String(64), ForeignKey("users.user_id"), nullable=False),
    Column("patient_id", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index("ix_patient_records_practitioner", "group_id", "practitioner_id"),
    # a member's latest record, for dormancy (migration 0012)
    Index("ix_patient_records_practitioner_created", "group_id", "practitioner_id", "created_at"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("actor_id", String(64), nullable=False),
    Column("group_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("action", String(40), nullable=False),
    Column("item", String(40), nullable=True),
    Column("before", Text, nullable=True),  # JSON
    Column("after", Text, nullable=True),  # JSON
    Column("reason", Text, nullable=True),
    Column("run_id", String(64), nullable=True),
    # who was logged in (opskit.identity); on PostgreSQL the server's session_user,
    # written by the column's default (migration 0010)
    Column("login", String(128), nullable=True),
    # sha256 chaining the event to the one before (opskit.audit.chain_hash)
    Column("hash", String(64), nullable=True),
    Index("ix_audit_events_member", "group_id", "user_id", "event_id"),
    Index("ix_audit_events_run", "run_id"),
    Index("ix_audit_events_at", "at"),
)

# The head of the audit hash chain: one row (chain_id 1), the last event and its hash.
# Appending locks it, so concurrent writers extend the chain one after the other.
audit_chain = Table(
    "audit_chain",
    metadata,
    Column("chain_id", Integer, primary_key=True, autoincrement=False),
    Column("last_event_id", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

# A login mapped to the user it acts as (docs/rules.md 9.1: bound mode).
operators = Table(
    "operators",
    metadata,
    Column("login", String(128), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.user_id"), nullable=False),
    Column("added_at", DateTime, nullable=False),
    Column("added_by", String(64), nullable=False),
    Index("ix_operators_user_id", "user_id"),
)

# A plan's content (its digest) approved by a second operator (docs/rules.md 9.2).
plan_approvals = Table(
    "plan_approvals",
    metadata,
    Column("plan", String(64), primary_key=True),
    Column("approved_by", String(64), ForeignKey("users.user_id"), primary_key=True),
    Column("planned_by", String(64), nullable=False),
    Column("login", String(128), nullable=True),
    Column("approved_at", DateTime, nullable=False),
)

# What checklist resolution switched off, so reactivation can put it back (R7).
settings_snapshots = Table(
    "settings_snapshots",
    metadata,
    Column("snapshot_id", Integer, primary_key=True, autoincrement=True),
    Column("group_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("item", String(40), nullable=False),
    Column("taken_at", DateTime, nullable=False),
    Column("data", Text, nullable=False),  # JSON: the rows as they were, and as set
    Column("run_id", String(64), nullable=True),
    Column("restored_at", DateTime, nullable=True),
    Index("ix_settings_snapshots_member", "group_id", "user_id", "restored_at"),
)

offboard_runs = Table(
    "offboard_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("actor_id", String(64), nullable=False),
    Column("state", String(20), nullable=False),  # running, interrupted, done, undone
    Column("options", Text, nullable=False),  # JSON, offboard.runs.RunOptions
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
    Column("undone_at", DateTime, nullable=True),
    # the process working on the run (offboard.liveness): its host, pid and the pid's
    # start time, and its last heartbeat (wall-clock seconds since the epoch)
    Column("process_host", String(255), nullable=True),
    Column("process_pid", Integer, nullable=True),
    Column("process_pid_start", String(32), nullable=True),
    Column("heartbeat", Float, nullable=True),
)

# A run's plan as reviewed (JSON, Plan.to_stored), written once when the run starts. Its
# own table (migration 0007): SQLite rewrites a whole row when one of its values
# changes, and a run's state changes while its plan never does.
offboard_run_plans = Table(
    "offboard_run_plans",
    metadata,
    Column("run_id", String(64), ForeignKey("offboard_runs.run_id"), primary_key=True),
    Column("plan", Text, nullable=False),
)

offboard_run_rows = Table(
    "offboard_run_rows",
    metadata,
    Column("run_id", String(64), ForeignKey("offboard_runs.run_id"), primary_key=True),
    Column("row_no", Integer, primary_key=True),
    Column("group_id", String(64), nullable=True),
    Column("user_id", String(64), nullable=True),
    Column("email", String(320), nullable=False),
    Column("action", String(20), nullable=True),
    # written with the row's batch (a pending plan row has no ledger row); nullable
    # because making it NOT NULL would copy the table on SQLite
    Column("result", String(20), nullable=True),
    Column("message", Text, nullable=True),
    Column("fingerprint", String(64), nullable=True),
    Column("done_at", DateTime, nullable=True),
)

# A group's dormancy policy (opskit.policy, migration 0012): NULL days fall back to the
# report's defaults. Who set it and when; the audit trail keeps every change.
dormancy_policies = Table(
    "dormancy_policies",
    metadata,
    Column("group_id", String(64), ForeignKey("groups.group_id"), primary_key=True),
    Column("dormant_days", Integer, nullable=True),
    Column("grace_days", Integer, nullable=True),
    Column("set_by", String(64), nullable=False),
    Column("set_at", DateTime, nullable=False),
    CheckConstraint("dormant_days IS NULL OR dormant_days >= 0", name="dormant_days"),
    CheckConstraint("grace_days IS NULL OR grace_days >= 0", name="grace_days"),
)

# A member left out of the dormant report until ``until`` (midnight UTC of its date).
dormancy_exemptions = Table(
    "dormancy_exemptions",
    metadata,
    Column("group_id", String(64), primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("until", DateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("set_by", String(64), nullable=False),
    Column("set_at", DateTime, nullable=False),
    ForeignKeyConstraint(["group_id", "user_id"], ["memberships.group_id", "memberships.user_id"]),
)
