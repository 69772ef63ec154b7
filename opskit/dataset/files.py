"""The files of a dataset folder: their columns, the kind of value each column holds,
and the key that makes a row unique (and orders the export).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import DateTime, Integer

from .. import schema


@dataclass(frozen=True)
class Col:
    """One column of a dataset file."""

    name: str
    kind: str = "id"  # id, text, email, enum, level, bool, time, amount, kind
    nullable: bool = False
    size: int = 64
    values: tuple[str, ...] = ()
    label: str = ""
    # a file may leave the column out: read as empty, or as ``default`` when there is one
    optional: bool = False
    default: str | None = None


@dataclass(frozen=True)
class FileSpec:
    """One file of the dataset folder and the table it fills."""

    table: str
    columns: tuple[Col, ...]
    key: tuple[str, ...]  # unique, and the export's sort order
    required: bool = False

    @property
    def file(self) -> str:
        return f"{self.table}.csv"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def optional_names(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns if c.optional)


SPECS: tuple[FileSpec, ...] = (
    FileSpec(
        "groups",
        (Col("group_id"), Col("name", "text", size=200)),
        ("group_id",),
        required=True,
    ),
    FileSpec(
        "users",
        (Col("user_id"), Col("email", "email", size=320), Col("name", "text", size=200)),
        ("user_id",),
        required=True,
    ),
    FileSpec(
        "memberships",
        (
            Col("group_id"),
            Col("user_id"),
            Col("role", "enum", values=schema.ROLES),
            Col("access_level", "level", size=40),
            Col("read_only", "bool"),
            Col("account_owner", "bool"),
            Col("status", "enum", values=schema.STATUSES),
            Col("joined_at", "time", nullable=True),
            Col("last_sign_in_at", "time", nullable=True),
            # who / when / why of the last status change (docs/rules.md)
            Col("status_changed_at", "time", nullable=True, optional=True),
            Col("status_changed_by", nullable=True, optional=True),
            Col("status_reason", "text", nullable=True, size=100_000, optional=True),
        ),
        ("group_id", "user_id"),
        required=True,
    ),
    FileSpec(
        "locations",
        (Col("location_id"), Col("group_id"), Col("name", "text", size=200)),
        ("location_id",),
    ),
    FileSpec(
        "booking_profiles",
        (
            Col("group_id"),
            Col("user_id"),
            Col("location_id"),
            Col(
                "directory_profile",
                "enum",
                values=schema.DIRECTORY_PROFILES,
                label="directory profile setting",
            ),
            Col(
                "online_bookings",
                "enum",
                values=schema.ONLINE_BOOKINGS,
                label="online bookings setting",
            ),
        ),
        ("group_id", "user_id", "location_id"),
    ),
    FileSpec(
        "integrations",
        (Col("group_id"), Col("user_id"), Col("kind", "kind", size=60), Col("enabled", "bool")),
        ("group_id", "user_id", "kind"),
    ),
    FileSpec(
        "credit_settings",
        (
            Col("group_id"),
            Col("user_id", nullable=True),
            Col("auto_top_up", "bool"),
            Col("trigger_balance", "amount"),
        ),
        ("group_id", "user_id"),
    ),
    FileSpec(
        "reminder_levels",
        (Col("group_id"), Col("user_id", nullable=True), Col("name", "text", size=100)),
        ("group_id", "user_id"),
    ),
    FileSpec(
        "export_grants",
        (Col("group_id"), Col("user_id"), Col("granted_at", "time")),
        ("group_id", "user_id"),
    ),
    FileSpec(
        "sessions",
        (
            Col("session_id"),
            Col("group_id"),
            Col("user_id"),
            Col("device", "text", size=200),
            Col("started_at", "time"),
            Col("revoked_at", "time", nullable=True),
        ),
        ("session_id",),
    ),
    FileSpec(
        "appointments",
        (
            Col("appointment_id"),
            Col("group_id"),
            Col("practitioner_id"),
            Col("patient_id"),
            Col("starts_at", "time"),
            Col(
                "status",
                "enum",
                values=schema.APPOINTMENT_STATUSES,
                optional=True,
                default="booked",
            ),
        ),
        ("appointment_id",),
    ),
    FileSpec(
        "patient_records",
        (
            Col("record_id"),
            Col("group_id"),
            Col("practitioner_id"),
            Col("patient_id"),
            Col("created_at", "time"),
        ),
        ("record_id",),
    ),
)


def _history(table: str, key: str) -> FileSpec:
    """A file of history the database keeps (docs/rules.md, dataset folder): every column
    of the table as it is, so that an export loaded elsewhere loses nothing (ids too)."""
    columns = []
    for column in schema.metadata.tables[table].columns:
        if isinstance(column.type, Integer):
            kind, size = "int", 20
        elif isinstance(column.type, DateTime):
            kind, size = "time", 64
        else:
            kind, size = "text", getattr(column.type, "length", None) or 10_000_000
        columns.append(Col(column.name, kind, nullable=bool(column.nullable), size=size))
    return FileSpec(table, tuple(columns), (key,))


# Files of history, after the files of the current state (they refer to nothing the
# load checks: an audit event may name a user or group that no longer exists).
HISTORY_SPECS: tuple[FileSpec, ...] = (
    _history("audit_events", "event_id"),
    _history("settings_snapshots", "snapshot_id"),
)
SPECS = SPECS + HISTORY_SPECS
SPEC = {spec.table: spec for spec in SPECS}
MANIFEST = "manifest.json"

# Columns the database holds beyond the file's (derived while loading).
EXTRA_COLUMNS = {"users": ("email_key",)}
