"""The dataset folder: twelve CSV files in (``load_dataset``), the same twelve out
(``export_dataset``), and the bundled demo (``load_demo``).

A load is all-or-nothing. Every file is read and validated before anything is
written; then one transaction empties the database (when replacing) and inserts
every table, so a failure at any point leaves the database as it was.

Validation works column-wise (pandas) so that a million rows take seconds, yet the
error still names the first bad value: of everything wrong in a file, the problem
on the smallest (line, column) is reported, with the physical CSV line.

Validated data is held as one DataFrame per table ("frames"): text as strings
(missing for NULL), booleans as ``bool``, times as naive UTC ``datetime64[us]``
(NaT for NULL), amounts as ``float``. The synthetic generator produces the same
frames, and ``write_frames`` is the one writer for both.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from . import schema
from .clock import parse_time
from .db import Database
from .errors import BadInput

# Package data, found through the package rather than this file, so it is there in any install
# and wherever this module moves inside the package.
DEMO_DIR = Path(str(resources.files("opskit") / "demo"))


@dataclass(frozen=True)
class Col:
    """One column of a dataset file."""

    name: str
    kind: str = "id"  # id, text, email, enum, level, bool, time, amount, kind
    nullable: bool = False
    size: int = 64
    values: tuple[str, ...] = ()
    label: str = ""


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
_EXTRA_COLUMNS = {"users": ("email_key",)}

_EMAIL = r"[^@\s,;<>]+@[^@\s,;<>]+"
_KIND = r"[a-z][a-z0-9_]*"
_AMOUNT = r"\d{1,10}(\.\d{1,2})?"


# --------------------------------------------------------------------------- reading


def _read_csv(path: Path, spec: FileSpec) -> tuple[pd.DataFrame, np.ndarray]:
    """The file's cells as stripped strings in spec column order, and each row's line."""
    file = spec.file
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise BadInput("is not UTF-8 text; save it as CSV UTF-8", file=file, line=line) from None
    if "\x00" in content:
        line = content.count("\n", 0, content.index("\x00")) + 1
        raise BadInput("holds a NUL character; is it a CSV file?", file=file, line=line)
    if not content.strip():
        raise BadInput("is empty; it needs at least the header row", file=file, line=1)

    plain = '"' not in content and content.count("\r") == content.count("\r\n")
    if plain:
        frame, lines, padded = _read_plain(data, spec)
    else:
        frame, lines = _read_quoted(content, spec)
        padded = True
    for name in spec.names:
        frame[name] = frame[name].astype(object)
        if padded:
            frame[name] = frame[name].str.strip()
    return frame, lines


def _check_header(header: list[str], spec: FileSpec, line: int) -> list[str]:
    header = [name.strip() for name in header]
    expected = ", ".join(spec.names)
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise BadInput(
                "this column appears twice in the header", file=spec.file, line=line, column=name
            )
        seen.add(name)
    for name in spec.names:
        if name not in seen:
            raise BadInput(
                f"the header lacks this column; expected the columns {expected}",
                file=spec.file,
                line=line,
                column=name,
            )
    for name in header:
        if name not in spec.names:
            raise BadInput(
                f"unexpected column {name!r}; expected the columns {expected}",
                file=spec.file,
                line=line,
                column=name,
            )
    return header


def _ragged(spec: FileSpec, line: int, found: int, expected: int) -> BadInput:
    fields = "field" if found == 1 else "fields"
    return BadInput(
        f"has {found} {fields} where the header has {expected}", file=spec.file, line=int(line)
    )


def _may_be_padded(buf: np.ndarray) -> bool:
    """Could a field start or end with whitespace? (Then the cells get stripped.)

    Looks at the bytes next to field boundaries: ASCII blanks, or any non-ASCII byte
    (it could belong to a Unicode space).
    """
    boundary = (buf == ord(",")) | (buf == ord("\n")) | (buf == ord("\r"))
    suspect = (buf == ord(" ")) | (buf == ord("\t")) | (buf == 0x0B) | (buf == 0x0C) | (buf >= 0x80)
    if not len(buf):
        return False
    return bool(
        suspect[0]
        or suspect[-1]
        or (suspect[1:] & boundary[:-1]).any()
        or (suspect[:-1] & boundary[1:]).any()
    )


def _read_plain(data: bytes, spec: FileSpec) -> tuple[pd.DataFrame, np.ndarray, bool]:
    """No quotes in the file: lines and fields are counted with numpy, pandas parses."""
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(buf)]))
    lengths = ends - starts
    has_cr = np.zeros(len(starts), dtype=bool)
    nonempty = lengths > 0
    has_cr[nonempty] = buf[ends[nonempty] - 1] == ord("\r")
    blank = (lengths - has_cr) == 0
    commas = np.flatnonzero(buf == ord(","))
    fields = np.bincount(np.searchsorted(newlines, commas), minlength=len(starts)) + 1
    used = np.flatnonzero(~blank)
    head = used[0]
    header_text = data[starts[head] : ends[head]].decode("utf-8").rstrip("\r")
    header = _check_header(header_text.split(","), spec, line=int(head) + 1)
    records = used[1:]
    bad = np.flatnonzero(fields[records] != len(header))
    if len(bad):
        row = records[bad[0]]
        raise _ragged(spec, row + 1, fields[row], len(header))
    frame = pd.read_csv(
        io.BytesIO(data),
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        skip_blank_lines=True,
        encoding="utf-8",
    )
    if len(frame) != len(records):  # the two readers disagree: trust the csv module
        return (*_read_quoted(data.decode("utf-8"), spec), True)
    frame.columns = header
    return frame[list(spec.names)].copy(), records + 1, _may_be_padded(buf)


def _read_quoted(content: str, spec: FileSpec) -> tuple[pd.DataFrame, np.ndarray]:
    """Quoted fields may span lines: the csv module reads, tracking physical lines."""
    reader = csv.reader(io.StringIO(content, newline=""), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    last = 0
    try:
        for row in reader:
            start, last = last + 1, reader.line_num
            if row:  # a blank line is no record
                rows.append(row)
                lines.append(start)
    except csv.Error as error:
        raise BadInput(f"is not valid CSV ({error})", file=spec.file, line=last + 1) from None
    header = _check_header(rows[0], spec, line=lines[0])
    for row, line in zip(rows[1:], lines[1:], strict=True):
        if len(row) != len(header):
            raise _ragged(spec, line, len(row), len(header))
    frame = pd.DataFrame(rows[1:], columns=header, dtype=object)
    return frame[list(spec.names)].copy(), np.asarray(lines[1:], dtype=np.int64)


# ------------------------------------------------------------------------ validating


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
        if not col.nullable:
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


class _Context:
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


def _check_group_ref(frame, raw, valid, problems, ctx, column="group_id") -> np.ndarray:
    known = ctx.groups.get_indexer(frame[column].to_numpy(dtype=object)) >= 0
    problems.add(
        valid[column] & ~known,
        column,
        lambda row: f"unknown group {raw[column].iat[row]!r} (not in groups.csv)",
    )
    return valid[column] & known


def _check_user_ref(frame, raw, valid, problems, ctx, column="user_id") -> np.ndarray:
    known = ctx.users.get_indexer(frame[column].to_numpy(dtype=object)) >= 0
    problems.add(
        valid[column] & ~known,
        column,
        lambda row: f"unknown user {raw[column].iat[row]!r} (not in users.csv)",
    )
    return valid[column] & known


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


def _check_lockout(frame: pd.DataFrame, groups: pd.DataFrame) -> None:
    """R4: every group has an active Full Access member and an active account owner."""
    active = frame["status"] == "active"
    full = active & (frame["access_level"] == schema.FULL)
    owners = full & frame["account_owner"]
    with_full = set(frame.loc[full, "group_id"])
    with_owner = set(frame.loc[owners, "group_id"])
    for group_id, name in zip(groups["group_id"], groups["name"], strict=True):
        if group_id not in with_full:
            raise BadInput(
                f"group {group_id!r} ({name}) has no active Full Access member; "
                "every group needs one",
                file="memberships.csv",
                column="access_level",
            )
        if group_id not in with_owner:
            raise BadInput(
                f"group {group_id!r} ({name}) has no active account owner; every group needs one",
                file="memberships.csv",
                column="account_owner",
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
}


def _empty_raw(spec: FileSpec) -> tuple[pd.DataFrame, np.ndarray]:
    return pd.DataFrame({name: pd.Series([], dtype=object) for name in spec.names}), np.zeros(
        0, dtype=np.int64
    )


def _dataset_folder(folder: str | Path) -> Path:
    folder = Path(folder)
    if not folder.exists():
        raise BadInput(f"dataset folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise BadInput(f"{str(folder)!r} is not a folder; a dataset is a folder of CSV files")
    return folder


def read_dataset(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Read and validate a dataset folder; nothing is written anywhere.

    Returns one frame per table, sorted by key. Raises ``BadInput`` naming the file,
    line and column of the first bad value.
    """
    folder = _dataset_folder(folder)
    ctx = _Context()
    for spec in SPECS:
        path = folder / spec.file
        if path.is_file():
            raw, lines = _read_csv(path, spec)
        elif spec.required:
            raise BadInput(f"the dataset folder {str(folder)!r} has no {spec.file}", file=spec.file)
        else:
            raw, lines = _empty_raw(spec)
        problems = _Problems(spec, lines)
        frame, valid = _convert(raw, spec, problems)
        _VALIDATORS[spec.table](frame, raw, valid, problems, ctx, lines)
        problems.raise_first()
        frame = _sorted(frame, spec)
        if spec.table == "groups":
            ctx.groups = pd.Index(frame["group_id"].to_numpy(dtype=object))
        elif spec.table == "users":
            ctx.users = pd.Index(frame["user_id"].to_numpy(dtype=object))
        elif spec.table == "memberships":
            _check_lockout(frame, ctx.frames["groups"])
            ctx.set_memberships(frame)
        ctx.frames[spec.table] = frame
    return ctx.frames


def _in_order(keys: list[np.ndarray]) -> bool:
    """Are the rows already sorted by these key columns? (An export is.)"""
    if len(keys[0]) < 2:
        return True
    decided = np.zeros(len(keys[0]) - 1, dtype=bool)
    for column in keys:
        before, after = column[:-1], column[1:]
        if (~decided & (before > after)).any():
            return False
        decided |= before < after
    return True


def _sorted(frame: pd.DataFrame, spec: FileSpec) -> pd.DataFrame:
    """Rows in key order (NULL first): deterministic ids, and index-friendly inserts."""
    keys = [frame[c].fillna("").to_numpy(dtype=object) for c in spec.key]
    if _in_order(keys):
        return frame.reset_index(drop=True)
    order = pd.DataFrame(dict(zip(spec.key, keys, strict=True))).sort_values(
        list(spec.key), kind="stable"
    )
    return frame.loc[order.index].reset_index(drop=True)


# ------------------------------------------------------------------------- writing


def _tables() -> list:
    """Every table opskit owns, parents before children."""
    return list(schema.metadata.sorted_tables)


def _holds_data(conn: Connection) -> bool:
    for table in _tables():
        if conn.execute(text(f"SELECT 1 FROM {table.name} LIMIT 1")).first() is not None:
            return True
    return False


def _delete_everything(conn: Connection, dialect: str) -> None:
    if dialect == "postgresql":
        names = ", ".join(table.name for table in _tables())
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    else:
        for table in reversed(_tables()):
            conn.execute(text(f"DELETE FROM {table.name}"))


def _kind_of(table: str, column: str) -> str:
    spec = SPEC[table]
    for col in spec.columns:
        if col.name == column:
            return col.kind
    return "text"


def _digits(buf: np.ndarray, column: int, values: np.ndarray, width: int) -> None:
    for i in range(width):
        buf[:, column + width - 1 - i] = ord("0") + (values // 10**i) % 10


def _time_strings(values, *, sep: str, suffix: str, always_micro: bool) -> np.ndarray:
    """datetime64 values as text, built digit by digit in a byte buffer (no Python loop).

    ``YYYY-MM-DD{sep}HH:MM:SS[.ffffff]{suffix}``; NaT gives None. The fraction is
    written always (``always_micro``) or only where there is one.
    """
    array = np.asarray(values, dtype="datetime64[us]")
    missing = np.isnat(array)
    ticks = np.where(missing, 0, array.astype(np.int64))
    seconds, micro = np.divmod(ticks, 1_000_000)
    days, of_day = np.divmod(seconds, 86_400)
    dates = days.astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    hour, rest = np.divmod(of_day, 3600)
    minute, second = np.divmod(rest, 60)
    width = 26 + len(suffix)
    buf = np.empty((len(array), width), dtype=np.uint8)
    _digits(buf, 0, dates.astype("datetime64[Y]").astype(np.int64) + 1970, 4)
    buf[:, 4] = buf[:, 7] = ord("-")
    _digits(buf, 5, months.astype(np.int64) % 12 + 1, 2)
    _digits(buf, 8, (dates - months).astype(np.int64) + 1, 2)
    buf[:, 10] = ord(sep)
    _digits(buf, 11, hour, 2)
    buf[:, 13] = buf[:, 16] = ord(":")
    _digits(buf, 14, minute, 2)
    _digits(buf, 17, second, 2)
    buf[:, 19] = ord(".")
    _digits(buf, 20, micro, 6)
    for i, char in enumerate(suffix):
        buf[:, 26 + i] = ord(char)

    def as_text(rows: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(rows)
        return rows.view(f"S{rows.shape[1]}").ravel().astype(f"U{rows.shape[1]}").astype(object)

    if always_micro:
        out = as_text(buf)
    else:
        short = np.concatenate((buf[:, :19], buf[:, 26:]), axis=1)
        out = as_text(short)
        fraction = (micro != 0) & ~missing
        if fraction.any():
            out[fraction] = as_text(buf[fraction])
    out[missing] = None
    return out


def _wire_times(values) -> np.ndarray:
    """Times as SQLAlchemy stores them on SQLite: ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return _time_strings(values, sep=" ", suffix="", always_micro=True)


def _wire_columns(table: str, frame: pd.DataFrame, columns: list[str]) -> list[list]:
    """Python values for the SQLite driver: str, bool, float, None for NULL."""
    out = []
    for column in columns:
        kind = _kind_of(table, column)
        values = frame[column].to_numpy()
        if kind == "time":
            out.append(_wire_times(values).tolist())
        elif kind == "bool":
            out.append(np.asarray(values, dtype=bool).tolist())
        elif kind == "amount":
            out.append(np.round(np.asarray(values, dtype=float), 2).tolist())
        else:
            values = np.asarray(values, dtype=object)
            missing = pd.isna(values)
            if missing.any():
                values = values.copy()
                values[missing] = None
            out.append(values.tolist())
    return out


_COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))


def _copy_columns(table: str, frame: pd.DataFrame, columns: list[str]) -> list[np.ndarray]:
    """Each column as text in PostgreSQL's COPY text format (\\N for NULL, escaped)."""
    out = []
    for column in columns:
        kind = _kind_of(table, column)
        values = frame[column].to_numpy()
        if kind == "time":
            text_values = _wire_times(values)
        elif kind == "bool":
            text_values = np.where(np.asarray(values, dtype=bool), "t", "f").astype(object)
        elif kind == "amount":
            text_values = np.char.mod("%.2f", np.asarray(values, dtype=float)).astype(object)
        else:
            text_values = np.asarray(values, dtype=object).copy()
            missing = pd.isna(text_values)
            text_values[missing] = ""
            joined = "".join(text_values)
            if any(special in joined for special, _ in _COPY_ESCAPES):
                series = pd.Series(text_values, dtype=object)
                for special, escaped in _COPY_ESCAPES:  # the backslash first
                    series = series.str.replace(special, escaped, regex=False)
                text_values = series.to_numpy(dtype=object, copy=True)
            text_values[missing] = None
        text_values = np.asarray(text_values, dtype=object)
        text_values[pd.isna(text_values)] = "\\N"
        out.append(text_values)
    return out


def _insert(conn: Connection, dialect: str, table: str, frame: pd.DataFrame) -> None:
    """Bulk-insert one table's rows inside the caller's transaction."""
    if frame.empty:
        return
    columns = list(SPEC[table].names) + list(_EXTRA_COLUMNS.get(table, ()))
    driver = conn.connection.driver_connection
    if dialect == "postgresql":
        import psycopg

        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        text_columns = _copy_columns(table, frame, columns)
        try:
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for start in range(0, len(frame), 100_000):
                    lines = text_columns[0][start : start + 100_000]
                    for column in text_columns[1:]:
                        lines = lines + "\t" + column[start : start + 100_000]
                    copy.write("\n".join(lines) + "\n")
        except psycopg.Error as error:
            raise _refused(table, statement, error, psycopg.IntegrityError) from None
    else:
        import sqlite3

        statement = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        )
        cursor = driver.cursor()
        try:
            cursor.executemany(statement, zip(*_wire_columns(table, frame, columns), strict=True))
        except sqlite3.Error as error:
            raise _refused(table, statement, error, sqlite3.IntegrityError) from None
        finally:
            cursor.close()


def _refused(table: str, statement: str, error: Exception, integrity: type) -> Exception:
    """A driver error as opskit reports it: a refused row is bad input, the rest a
    database error (the CLI prints both as one line)."""
    detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if isinstance(error, integrity):
        return BadInput(f"the database refused a row of {table}: {detail}; nothing was loaded")
    return DBAPIError(statement, None, error)


@contextmanager
def _bulk_transaction(db: Database) -> Iterator[Connection]:
    """The write transaction of a load.

    On SQLite, foreign keys are not enforced row by row during it: every reference has
    been validated already, and enforcement makes emptying the parent tables (users,
    memberships) visit every row, about 50 s at a million members instead of 4.
    ``PRAGMA foreign_key_check`` then checks every reference of the whole database
    before the commit (4 s at a million), and enforcement is back on afterwards
    whatever happened. The pragma only takes effect outside a transaction, hence
    the raw driver connection before BEGIN.
    """
    if db.dialect != "sqlite":
        with db.begin() as conn:
            yield conn
        return
    with db.engine.connect() as conn:
        driver = conn.connection.driver_connection
        driver.execute("PRAGMA foreign_keys = OFF")
        cache = driver.execute("PRAGMA cache_size").fetchone()[0]
        # a bigger page cache while loading: index inserts stay in memory
        driver.execute("PRAGMA cache_size = -400000")
        try:
            with conn.begin():
                yield conn
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
                if broken is not None:
                    table, rowid, parent, _ = broken
                    raise BadInput(
                        f"{table} row {rowid} refers to a {parent} row that does not exist; "
                        "nothing was loaded"
                    )
        finally:
            driver.execute(f"PRAGMA cache_size = {int(cache)}")
            driver.execute("PRAGMA foreign_keys = ON")


def write_frames(db: Database, frames: dict[str, pd.DataFrame], *, replace: bool) -> dict[str, int]:
    """Insert validated frames, all tables in one transaction; the one writer.

    Without ``replace`` a database that holds data is refused; with it, everything in
    the database (audit events and run ledgers too) is deleted first, in the same
    transaction, so a failure leaves the old content in place.
    """
    with _bulk_transaction(db) as conn:
        if _holds_data(conn):
            if not replace:
                raise BadInput(f"{db.url} holds data already; use --replace to replace it")
            _delete_everything(conn, db.dialect)
        for spec in SPECS:
            _insert(conn, db.dialect, spec.table, frames[spec.table])
        if db.dialect == "postgresql":
            conn.execute(text("ANALYZE " + ", ".join(spec.table for spec in SPECS)))
    return {spec.table: len(frames[spec.table]) for spec in SPECS}


def _ensure_not_holding(db: Database) -> None:
    """Refuse early, before a long validation, when the load would be refused anyway."""
    with db.read() as conn:
        if _holds_data(conn):
            raise BadInput(f"{db.url} holds data already; use --replace to replace it")


def load_dataset(db: Database, folder: str | Path, *, replace: bool = False) -> dict[str, int]:
    """Load a dataset folder into ``db``: all rows or none. Returns rows per table."""
    folder = _dataset_folder(folder)
    if not replace:
        _ensure_not_holding(db)
    frames = read_dataset(folder)
    return write_frames(db, frames, replace=replace)


def load_demo(db: Database, *, replace: bool = True) -> dict[str, int]:
    """Load the bundled demo dataset (``data/demo``), built around 2026-07-01T09:00:00Z."""
    return load_dataset(db, DEMO_DIR, replace=replace)


# ------------------------------------------------------------------------- exporting


def _iso_times(values: pd.Series) -> np.ndarray:
    """Times as clock.iso writes them (``...Z``, microseconds only when there are some)."""
    array = pd.to_datetime(values, format="ISO8601").to_numpy(dtype="datetime64[us]")
    out = _time_strings(array, sep="T", suffix="Z", always_micro=False)
    out[np.isnat(array)] = ""
    return out


def _export_columns(conn: Connection, dialect: str, spec: FileSpec) -> list[np.ndarray]:
    """One table as the text its CSV file holds, column by column, sorted by key."""
    # Code point order with NULL first on both backends (SQLite's BINARY collation is
    # byte order; PostgreSQL's default collation may not be), so exports are identical.
    collate = ' COLLATE "C" NULLS FIRST' if dialect == "postgresql" else ""
    order = ", ".join(f"{name}{collate}" for name in spec.key)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(f"SELECT {', '.join(spec.names)} FROM {spec.table} ORDER BY {order}")
        rows = cursor.fetchall()
    finally:
        cursor.close()
    table = np.empty((len(rows), len(spec.columns)), dtype=object)
    if rows:
        table[:] = rows  # far faster than zip(*rows)
    out = []
    for i, col in enumerate(spec.columns):
        values = pd.Series(table[:, i], dtype=object)
        if col.kind == "time":
            out.append(_iso_times(values))
        elif col.kind == "bool":
            out.append(np.where(values.astype(bool).to_numpy(), "true", "false").astype(object))
        elif col.kind == "amount":
            out.append(np.char.mod("%.2f", values.astype(float).to_numpy()).astype(object))
        else:
            out.append(values.where(values.notna(), "").to_numpy(dtype=object))
    return out


def _write_csv(path: Path, names: tuple[str, ...], columns: list[np.ndarray]) -> None:
    # The csv module quotes a "\n" but not a lone "\r" when lines end in "\n"; a file
    # whose text holds one is written fully quoted so that it reads back the same.
    text_columns = [c for c in columns if len(c) and isinstance(c[0], str)]
    carriage_return = any("\r" in "".join(column) for column in text_columns)
    quoting = csv.QUOTE_ALL if carriage_return else csv.QUOTE_MINIMAL
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=quoting)
        writer.writerow(names)
        writer.writerows(zip(*columns, strict=True))


def export_dataset(db: Database, folder: str | Path) -> dict[str, int]:
    """Write the database as a dataset folder (created if missing). Returns rows per table.

    Rows are sorted by key so that an export is reproducible and identical across
    backends; ``load_dataset`` of the folder gives back the same rows.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"{str(folder)!r} is a file; export needs a folder")
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    with db.read() as conn:
        if db.dialect == "postgresql":  # one snapshot for all twelve files
            conn.execution_options(isolation_level="REPEATABLE READ")
        for spec in SPECS:
            columns = _export_columns(conn, db.dialect, spec)
            _write_csv(folder / spec.file, spec.names, columns)
            counts[spec.table] = len(columns[0])
    return counts
