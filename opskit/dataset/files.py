"""The files of a dataset folder: their columns, the kind of value each column holds,
and the key that makes a row unique (and orders the export).
"""

from __future__ import annotations

from dataclasses import dataclass

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
    # an optional column: a file without it loads with this value in every row
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
            Col("status", "enum", values=schema.APPOINTMENT_STATUSES, default="booked"),
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
SPEC = {spec.table: spec for spec in SPECS}

# Columns the database holds beyond the file's (derived while loading).
EXTRA_COLUMNS = {"users": ("email_key",)}
