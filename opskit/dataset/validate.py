"""Validation of one file's cells, column-wise with pandas so that a million rows take
seconds, yet the error names the first bad value: of everything wrong in a file, the
problem on the smallest (line, column) is reported, with the physical CSV line.

Each file is checked on its own (types, sizes, duplicates) and against the files read
before it (references to groups, users, memberships and locations).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .. import rules, schema
from ..clock import parse_time
from ..errors import BadInput
from .files import FileSpec

_EMAIL = r"[^@\s,;<>]+@[^@\s,;<>]+"
_KIND = r"[a-z][a-z0-9_]*"
_AMOUNT = r"\d{1,10}(\.\d{1,2})?"


class _Problems:
    """What is wrong in one file; the first by (line, column position) is raised."""

    def __init__(self, spec: FileSpec, lines: np.ndarray) -> None:
        self.spec = spec
        self.lines = lines
        self.position = {name: i for i, name in enumerate(spec.names)}
        self.first: tuple[tuple[int, int], str, int, Callable[[int], str]] | None = None

    def add(self, mask, column: str, message: Callable[[int], str]) -> None:
        """Flag the rows in ``mask``; ``message(row)`` describes the problem of a row."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        row = int(mask.argmax())
        rank = (int(self.lines[row]), self.position[column])
        if self.first is None or rank < self.first[0]:
            self.first = (rank, column, row, message)

    def raise_first(self) -> None:
        if self.first is not None:
            (line, _), column, row, message = self.first
            raise BadInput(message(row), file=self.spec.file, line=line, column=column)


def _text(values: pd.Series, empty: np.ndarray) -> np.ndarray:
    out = values.to_numpy(dtype=object, copy=True)
    out[empty] = None
    return out


def _parse_times(values: pd.Series, empty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Times as naive UTC datetime64[us] (NaT when empty), and which rows are bad."""
    # pandas parses ISO 8601 column-wise; it also takes reduced forms ("2026-07") that
    # clock.parse_time refuses, so short values and whatever pandas refused go
    # through parse_time one by one: it has the last word.
    complete = (values.str.len() >= 10).to_numpy(dtype=bool)
    candidates = pd.Series(np.where(complete, values.to_numpy(dtype=object), None), dtype=object)
    parsed = pd.to_datetime(candidates, format="ISO8601", utc=True, errors="coerce")
    out = parsed.dt.tz_convert(None).to_numpy(dtype="datetime64[us]")
    bad = np.zeros(len(values), dtype=bool)
    for row in np.flatnonzero(np.isnat(out) & ~empty):
        try:
            out[row] = np.datetime64(parse_time(values.iat[row]), "us")
        except (BadInput, ValueError, OverflowError):
            bad[row] = True
    return out, bad


def _convert(frame: pd.DataFrame, spec: FileSpec, problems: _Problems):
    """Typed columns and, per column, which rows hold a usable value."""
    typed: dict[str, object] = {}
    valid: dict[str, np.ndarray] = {}
    for col in spec.columns:
        values = frame[col.name]
        empty = (values == "").to_numpy(dtype=bool)
        if col.blank:
            empty = np.zeros(len(values), dtype=bool)  # '' is a value here
        elif not col.nullable:
            problems.add(empty, col.name, lambda _row: "a value is required")
        bad = np.zeros(len(values), dtype=bool)

        def flag(mask, message, *, name=col.name, values=values):
            problems.add(mask, name, lambda row: message(values.iat[row]))

        if col.kind in ("id", "text", "email", "enum", "level", "kind"):
            too_long = (values.str.len() > col.size).to_numpy(dtype=bool)
            flag(too_long, lambda v, size=col.size: f"is longer than {size} characters")
            bad |= too_long
            if col.kind == "enum":
                label = col.label or col.name.replace("_", " ")
                wrong = ~values.isin(col.values).to_numpy(dtype=bool) & ~empty
                flag(
                    wrong,
                    lambda v, label=label, allowed=", ".join(col.values): (
                        f"{v!r} is not a {label} ({allowed})"
                    ),
                )
                bad |= wrong
            elif col.kind == "email":
                wrong = ~values.str.fullmatch(_EMAIL).to_numpy(dtype=bool) & ~empty
                flag(wrong, lambda v: f"{v!r} is not an email address")
                bad |= wrong
            elif col.kind == "kind":
                wrong = ~values.str.fullmatch(_KIND).to_numpy(dtype=bool) & ~empty
                flag(
                    wrong,
                    lambda v: (
                        f"{v!r} is not an integration kind "
                        "(lower-case words joined by _, like ical_feed)"
                    ),
                )
                bad |= wrong
            typed[col.name] = _text(values, empty)
        elif col.kind == "bool":
            lowered = values.str.lower()
            wrong = ~lowered.isin(("true", "false")).to_numpy(dtype=bool) & ~empty
            flag(wrong, lambda v: f"{v!r} is not a boolean (true or false)")
            bad |= wrong
            typed[col.name] = (lowered == "true").to_numpy(dtype=bool)
        elif col.kind == "time":
            parsed, wrong = _parse_times(values, empty)
            flag(wrong, lambda v: f"{v!r} is not an ISO 8601 time (like 2026-07-01T09:00:00Z)")
            bad |= wrong
            typed[col.name] = parsed
        elif col.kind == "amount":
            wrong = ~values.str.fullmatch(_AMOUNT).to_numpy(dtype=bool) & ~empty
            flag(wrong, lambda v: f"{v!r} is not an amount (like 50 or 12.50)")
            bad |= wrong
            typed[col.name] = pd.to_numeric(values.where(~wrong & ~empty), errors="coerce")
            typed[col.name] = np.asarray(typed[col.name], dtype=float)
        elif col.kind == "int":
            wrong = ~values.str.fullmatch(r"\d{1,18}").to_numpy(dtype=bool) & ~empty
            flag(wrong, lambda v: f"{v!r} is not a whole number")
            bad |= wrong
            numbers = pd.to_numeric(values.where(~wrong & ~empty), errors="coerce")
            if col.nullable and empty.any():  # NULL stays NULL (None), the rest ints
                typed[col.name] = np.where(
                    empty, None, numbers.fillna(0).astype(np.int64).to_numpy(dtype=object)
                )
            else:
                typed[col.name] = np.asarray(numbers.fillna(0), dtype=np.int64)
        else:  # pragma: no cover - a spec error
            raise AssertionError(col.kind)
        valid[col.name] = ~bad & ~empty
    return pd.DataFrame(typed, index=frame.index), valid


def _check_unique(
    raw: pd.DataFrame,
    problems: _Problems,
    columns: tuple[str, ...],
    describe: Callable[[int, int], str],
    keys: pd.DataFrame | None = None,
) -> None:
    """Flag the second row of each duplicate key; ``describe(row, first_row)``."""
    keys = raw[list(columns)] if keys is None else keys
    duplicated = keys.duplicated(keep="first").to_numpy(dtype=bool)

    def message(row: int) -> str:
        same = (keys == keys.iloc[row]).all(axis=1).to_numpy(dtype=bool)
        return describe(row, int(np.flatnonzero(same)[0]))

    problems.add(duplicated, columns[-1], message)


def _duplicate_of(raw: pd.DataFrame, lines: np.ndarray, columns: tuple[str, ...]):
    def describe(row: int, first: int) -> str:
        what = ", ".join(f"{c} {raw[c].iat[row]!r}" for c in columns)
        return f"duplicate row for {what} (first on line {lines[first]})"

    return describe


class Context:
    """What earlier files established, for the reference checks of later ones.

    Groups, users and memberships are looked up through integer positions
    (``Index.get_indexer``): a membership is ``group position * users + user position``.
    """

    def __init__(self) -> None:
        self.frames: dict[str, pd.DataFrame] = {}
        self.groups = pd.Index([], dtype=object)
        self.users = pd.Index([], dtype=object)
        self.members = pd.Index([], dtype=np.int64)
        self.member_role = np.array([], dtype=object)
        self.member_status = np.array([], dtype=object)

    def member_codes(self, group_ids, user_ids) -> np.ndarray:
        g = self.groups.get_indexer(np.asarray(group_ids, dtype=object))
        u = self.users.get_indexer(np.asarray(user_ids, dtype=object))
        known = (g >= 0) & (u >= 0)
        return np.where(known, g.astype(np.int64) * max(len(self.users), 1) + u, -1)

    def member_positions(self, group_ids, user_ids) -> np.ndarray:
        """Each row's position in memberships, or -1 when it is no membership."""
        return self.members.get_indexer(self.member_codes(group_ids, user_ids))

    def set_memberships(self, memberships: pd.DataFrame) -> None:
        codes = self.member_codes(memberships["group_id"], memberships["user_id"])
        self.members = pd.Index(codes)
        self.member_role = memberships["role"].to_numpy(dtype=object)
        self.member_status = memberships["status"].to_numpy(dtype=object)

    def add(self, table: str, frame: pd.DataFrame) -> None:
        """Keep a validated (sorted) frame for the checks of the files after it."""
        if table == "groups":
            self.groups = pd.Index(frame["group_id"].to_numpy(dtype=object))
        elif table == "users":
            self.users = pd.Index(frame["user_id"].to_numpy(dtype=object))
        elif table == "memberships":
            self.set_memberships(frame)
        self.frames[table] = frame


def _check_known(
    frame, raw, valid, problems, ids: pd.Index, column: str, what: str, file: str
) -> np.ndarray:
    """Flag values of ``column`` not among ``ids``; returns the rows with a known one."""
    known = ids.get_indexer(frame[column].to_numpy(dtype=object)) >= 0
    problems.add(
        valid[column] & ~known,
        column,
        lambda row: f"unknown {what} {raw[column].iat[row]!r} (not in {file})",
    )
    return valid[column] & known


def _check_group_ref(frame, raw, valid, problems, ctx, column="group_id") -> np.ndarray:
    return _check_known(frame, raw, valid, problems, ctx.groups, column, "group", "groups.csv")


def _check_user_ref(frame, raw, valid, problems, ctx, column="user_id") -> np.ndarray:
    return _check_known(frame, raw, valid, problems, ctx.users, column, "user", "users.csv")


def _check_member_ref(
    frame, raw, valid, problems, ctx, *, group_ok
) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose (group_id, user_id) is a membership, and each row's membership position."""
    position = ctx.member_positions(frame["group_id"], frame["user_id"])
    checked = group_ok & valid["user_id"]
    problems.add(
        checked & (position < 0),
        "user_id",
        lambda row: (
            f"{raw['user_id'].iat[row]!r} is not a member of group "
            f"{raw['group_id'].iat[row]!r} (no such row in memberships.csv)"
        ),
    )
    return checked & (position >= 0), position


def _validate_groups(frame, raw, valid, problems, ctx, lines):
    _check_unique(raw, problems, ("group_id",), _duplicate_of(raw, lines, ("group_id",)))
    _check_unique(
        raw,
        problems,
        ("name",),
        lambda row, first: (
            f"the name {raw['name'].iat[row]!r} is already used by group "
            f"{raw['group_id'].iat[first]!r} on line {lines[first]}"
        ),
    )


def _validate_users(frame, raw, valid, problems, ctx, lines):
    _check_unique(raw, problems, ("user_id",), _duplicate_of(raw, lines, ("user_id",)))
    email_key = raw["email"].str.lower()
    # R11 in the rule's own form for the few non-ASCII emails (NFC, then lower case);
    # one whose local part or a domain label mixes scripts is a lookalike: refused
    foreign = ~raw["email"].map(str.isascii).to_numpy(dtype=bool)
    if foreign.any():
        email_key = email_key.copy()
        email_key[foreign] = raw["email"][foreign].map(rules.email_key)
        mixed = np.zeros(len(raw), dtype=bool)
        mixed[foreign] = raw["email"][foreign].map(rules.mixed_script_part).notna().to_numpy()
        problems.add(
            mixed,
            "email",
            lambda row: (
                f"{raw['email'].iat[row]!r} mixes letters of different scripts in "
                f"{rules.mixed_script_part(raw['email'].iat[row])!r} (a lookalike address?)"
            ),
        )
    _check_unique(
        raw,
        problems,
        ("email",),
        lambda row, first: (
            f"{raw['email'].iat[row]!r} is the same email as {raw['email'].iat[first]!r} "
            f"on line {lines[first]} (emails are case-insensitive)"
        ),
        keys=pd.DataFrame({"email": email_key}),
    )
    frame["email_key"] = email_key.to_numpy(dtype=object)


def _validate_memberships(frame, raw, valid, problems, ctx, lines):
    _check_group_ref(frame, raw, valid, problems, ctx)
    _check_user_ref(frame, raw, valid, problems, ctx)
    role, level = frame["role"], frame["access_level"]
    for name, levels in schema.LEVELS.items():
        article = "an" if name[0] in "aeiou" else "a"
        wrong = (
            valid["role"]
            & valid["access_level"]
            & (role == name).to_numpy(dtype=bool)
            & ~level.isin(levels).to_numpy(dtype=bool)
        )
        problems.add(
            wrong,
            "access_level",
            lambda row, article=article, name=name, levels=levels: (
                f"{raw['access_level'].iat[row]!r} is not a level for {article} {name} "
                f"({', '.join(levels)})"
            ),
        )
    level_ok = valid["access_level"] & level.isin(schema.ALL_LEVELS).to_numpy(dtype=bool)
    full = (level == schema.FULL).to_numpy(dtype=bool)
    problems.add(
        valid["read_only"] & level_ok & frame["read_only"].to_numpy() & full,
        "read_only",
        lambda row: "a Full Access member cannot be read-only; lower the access level first",
    )
    problems.add(
        valid["account_owner"] & level_ok & frame["account_owner"].to_numpy() & ~full,
        "account_owner",
        lambda row: (
            f"an account owner needs Full Access (full), not {raw['access_level'].iat[row]!r}"
        ),
    )
    _check_unique(
        raw,
        problems,
        ("group_id", "user_id"),
        lambda row, first: (
            f"{raw['user_id'].iat[row]!r} is already a member of group "
            f"{raw['group_id'].iat[row]!r} (line {lines[first]})"
        ),
    )


def _validate_locations(frame, raw, valid, problems, ctx, lines):
    _check_group_ref(frame, raw, valid, problems, ctx)
    _check_unique(
        raw,
        problems,
        ("location_id",),
        _duplicate_of(raw, lines, ("location_id",)),
    )


def _validate_booking_profiles(frame, raw, valid, problems, ctx, lines):
    group_ok = _check_group_ref(frame, raw, valid, problems, ctx)
    member_ok, position = _check_member_ref(frame, raw, valid, problems, ctx, group_ok=group_ok)
    role = np.where(member_ok, ctx.member_role[position], None)
    problems.add(
        member_ok & (role != "practitioner"),
        "user_id",
        lambda row: (
            f"{raw['user_id'].iat[row]!r} is an {role[row]} in group "
            f"{raw['group_id'].iat[row]!r}; booking profiles are for practitioners"
        ),
    )
    locations = ctx.frames["locations"]
    at = pd.Index(locations["location_id"]).get_indexer(frame["location_id"].to_numpy(dtype=object))
    known = at >= 0
    owner = np.where(known, locations["group_id"].to_numpy(dtype=object)[at], None)
    problems.add(
        valid["location_id"] & ~known,
        "location_id",
        lambda row: f"unknown location {raw['location_id'].iat[row]!r} (not in locations.csv)",
    )
    problems.add(
        valid["location_id"] & known & group_ok & (owner != frame["group_id"].to_numpy()),
        "location_id",
        lambda row: (
            f"location {raw['location_id'].iat[row]!r} belongs to group {owner[row]!r}, "
            f"not {raw['group_id'].iat[row]!r}"
        ),
    )
    columns = ("group_id", "user_id", "location_id")
    _check_unique(raw, problems, columns, _duplicate_of(raw, lines, columns))


def _validate_integrations(frame, raw, valid, problems, ctx, lines):
    group_ok = _check_group_ref(frame, raw, valid, problems, ctx)
    _check_member_ref(frame, raw, valid, problems, ctx, group_ok=group_ok)
    columns = ("group_id", "user_id", "kind")
    _check_unique(raw, problems, columns, _duplicate_of(raw, lines, columns))


def _validate_group_or_member_rows(table):
    def validate(frame, raw, valid, problems, ctx, lines):
        group_ok = _check_group_ref(frame, raw, valid, problems, ctx)
        individual = frame["user_id"].notna().to_numpy(dtype=bool)
        _check_member_ref(frame, raw, valid, problems, ctx, group_ok=group_ok & individual)

        def describe(row: int, first: int) -> str:
            group, user = raw["group_id"].iat[row], raw["user_id"].iat[row]
            if not user:
                return (
                    f"a second group row for group {group!r} (first on line {lines[first]}); "
                    "a group has at most one (the row with an empty user_id)"
                )
            return f"a second row for {user!r} in group {group!r} (first on line {lines[first]})"

        _check_unique(raw, problems, ("group_id", "user_id"), describe)

    return validate


def _validate_export_grants(frame, raw, valid, problems, ctx, lines):
    group_ok = _check_group_ref(frame, raw, valid, problems, ctx)
    _check_member_ref(frame, raw, valid, problems, ctx, group_ok=group_ok)
    columns = ("group_id", "user_id")
    _check_unique(raw, problems, columns, _duplicate_of(raw, lines, columns))


def _validate_sessions(frame, raw, valid, problems, ctx, lines):
    group_ok = _check_group_ref(frame, raw, valid, problems, ctx)
    member_ok, position = _check_member_ref(frame, raw, valid, problems, ctx, group_ok=group_ok)
    started, revoked = frame["started_at"].to_numpy(), frame["revoked_at"].to_numpy()
    open_ = np.isnat(revoked)
    problems.add(
        valid["started_at"] & valid["revoked_at"] & ~open_ & (revoked < started),
        "revoked_at",
        lambda row: (
            f"{raw['revoked_at'].iat[row]!r} is before started_at {raw['started_at'].iat[row]!r}"
        ),
    )
    status = np.where(member_ok, ctx.member_status[position], None)
    problems.add(
        member_ok & open_ & (raw["revoked_at"] == "").to_numpy(dtype=bool) & (status == "inactive"),
        "revoked_at",
        lambda row: (
            f"{raw['user_id'].iat[row]!r} is inactive in group {raw['group_id'].iat[row]!r}, "
            "so this session must be revoked (give revoked_at)"
        ),
    )
    _check_unique(
        raw,
        problems,
        ("session_id",),
        _duplicate_of(raw, lines, ("session_id",)),
    )


def _validate_clinical(table, id_column):
    def validate(frame, raw, valid, problems, ctx, lines):
        _check_group_ref(frame, raw, valid, problems, ctx)
        _check_user_ref(frame, raw, valid, problems, ctx, column="practitioner_id")
        _check_unique(raw, problems, (id_column,), _duplicate_of(raw, lines, (id_column,)))

    return validate


def _validate_unique(key: tuple[str, ...]):
    """A verbatim file: its key is unique; what it refers to, the database checks."""

    def validate(frame, raw, valid, problems, ctx, lines):
        _check_unique(raw, problems, key, _duplicate_of(raw, lines, key))

    return validate


def _validate_dormancy_policies(frame, raw, valid, problems, ctx, lines):
    _check_group_ref(frame, raw, valid, problems, ctx)
    _validate_unique(("group_id",))(frame, raw, valid, problems, ctx, lines)


def _validate_dormancy_exemptions(frame, raw, valid, problems, ctx, lines):
    group_ok = _check_group_ref(frame, raw, valid, problems, ctx)
    _check_member_ref(frame, raw, valid, problems, ctx, group_ok=group_ok)
    _validate_unique(("group_id", "user_id"))(frame, raw, valid, problems, ctx, lines)


def _validate_operators(frame, raw, valid, problems, ctx, lines):
    _check_user_ref(frame, raw, valid, problems, ctx)
    _validate_unique(("login",))(frame, raw, valid, problems, ctx, lines)


def _validate_plan_approvals(frame, raw, valid, problems, ctx, lines):
    _check_user_ref(frame, raw, valid, problems, ctx, column="approved_by")
    _validate_unique(("plan", "approved_by"))(frame, raw, valid, problems, ctx, lines)


def _validate_run_part(key: tuple[str, ...]):
    """A run's plan or ledger rows: of a run in offboard_runs.csv."""

    def validate(frame, raw, valid, problems, ctx, lines):
        runs = pd.Index(ctx.frames["offboard_runs"]["run_id"].to_numpy(dtype=object))
        _check_known(frame, raw, valid, problems, runs, "run_id", "run", "offboard_runs.csv")
        _validate_unique(key)(frame, raw, valid, problems, ctx, lines)

    return validate


_VALIDATORS = {
    "groups": _validate_groups,
    "users": _validate_users,
    "memberships": _validate_memberships,
    "locations": _validate_locations,
    "booking_profiles": _validate_booking_profiles,
    "integrations": _validate_integrations,
    "credit_settings": _validate_group_or_member_rows("credit_settings"),
    "reminder_levels": _validate_group_or_member_rows("reminder_levels"),
    "export_grants": _validate_export_grants,
    "sessions": _validate_sessions,
    "appointments": _validate_clinical("appointments", "appointment_id"),
    "patient_records": _validate_clinical("patient_records", "record_id"),
    "audit_events": _validate_unique(("event_id",)),
    "settings_snapshots": _validate_unique(("snapshot_id",)),
    "dormancy_policies": _validate_dormancy_policies,
    "dormancy_exemptions": _validate_dormancy_exemptions,
    "operators": _validate_operators,
    "plan_approvals": _validate_plan_approvals,
    "offboard_runs": _validate_unique(("run_id",)),
    "offboard_run_plans": _validate_run_part(("run_id",)),
    "offboard_run_rows": _validate_run_part(("run_id", "row_no")),
}


def validate_file(
    spec: FileSpec, raw: pd.DataFrame, lines: np.ndarray, ctx: Context
) -> pd.DataFrame:
    """One file's typed frame; ``BadInput`` naming the first bad value if any."""
    problems = _Problems(spec, lines)
    frame, valid = _convert(raw, spec, problems)
    _VALIDATORS[spec.table](frame, raw, valid, problems, ctx, lines)
    problems.raise_first()
    return frame
