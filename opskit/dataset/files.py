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
    # an empty cell is the empty string (a required text the database holds as ''),
    # not a missing value: the files kept verbatim, like an operator event's group_id
    blank: bool = False


@dataclass(frozen=True)
class FileSpec:
    """One file of the dataset folder and the table it fills."""

    table: str
    columns: tuple[Col, ...]
    key: tuple[str, ...]  # unique, and the export's sort order
    required: bool = False
    # the database's rows as they are (history, ledgers): cells are not stripped
    verbatim: bool = False

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


def _verbatim(table: str, key: tuple[str, ...]) -> FileSpec:
    """A file the database keeps as it is (docs/rules.md, dataset folder): every column
    of the table, so that an export loaded elsewhere loses nothing (ids too)."""
    columns = []
    for column in schema.metadata.tables[table].columns:
        blank = False
        if isinstance(column.type, Integer):
            kind, size = "int", 20
        elif isinstance(column.type, DateTime):
            kind, size = "time", 64
        else:
            kind, size = "text", getattr(column.type, "length", None) or 1 << 30
            blank = not column.nullable and column.name not in key
        nullable = bool(column.nullable)
        columns.append(Col(column.name, kind, nullable=nullable, size=size, blank=blank))
    return FileSpec(table, tuple(columns), key, verbatim=True)


# Files of history, after the files of the current state (they refer to nothing the
# load checks: an audit event may name a user or group that no longer exists). Their
# integer ids are kept, and the database's next id follows them.
HISTORY_SPECS: tuple[FileSpec, ...] = (
    _verbatim("audit_events", ("event_id",)),
    _verbatim("settings_snapshots", ("snapshot_id",)),
)
# What else the database keeps, verbatim: the dormancy policies and exemptions, the
# operator mapping (bound mode), plan approvals and the bulk runs' ledgers (so that a
# run can still be undone, and ``opskit check`` finds every run event ledgered).
KEPT_SPECS: tuple[FileSpec, ...] = (
    _verbatim("dormancy_policies", ("group_id",)),
    _verbatim("dormancy_exemptions", ("group_id", "user_id")),
    _verbatim("operators", ("login",)),
    _verbatim("plan_approvals", ("plan", "approved_by")),
    _verbatim("offboard_runs", ("run_id",)),
    _verbatim("offboard_run_plans", ("run_id",)),
    _verbatim("offboard_run_rows", ("run_id", "row_no")),
)
SPECS = SPECS + HISTORY_SPECS + KEPT_SPECS
SPEC = {spec.table: spec for spec in SPECS}
MANIFEST = "manifest.json"

# Columns the database holds beyond the file's (derived while loading).
EXTRA_COLUMNS = {"users": ("email_key",)}
