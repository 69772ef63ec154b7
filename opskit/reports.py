"""Reports on inactive users (SPEC section 6), as pandas DataFrames computed in SQL.

Each report filters, joins, aggregates and sorts in the database and hands pandas only
the rows of the answer; what pandas adds is derived per returned row (a day count, the
list of open checklist items). Reports only read.

- ``inactive_report``: inactive members, who deactivated them and why, their open
  checklist items, and the findings (still bookable online, an integration still on,
  auto top-up still on).
- ``dormant_report``: active members who have not signed in for N days, or never
  since joining more than a grace period ago: offboarding candidates.
  ``write_candidates_csv`` hands them to bulk offboarding.
- ``trends_report``: deactivations and reactivations per month and group, from the
  audit trail; ``status_summary``: active and inactive members per group.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    func,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from . import schema as s
from .checklist import REGISTRY, RESOLVABLE, pending_conditions
from .clock import now, parse_time
from .db import Database
from .errors import BadInput
from .rules import find_group
from .spreadsheet import write_csv

m = s.memberships.c
u = s.users.c
g = s.groups.c

INACTIVE_COLUMNS = [
    "group_id",
    "group",
    "email",
    "name",
    "role",
    "access_level",
    "deactivated_at",
    "deactivated_by",
    "reason",
    "open_items",
    "bookable_online",
    "integration_enabled",
    "auto_top_up_on",
    "finding",
]
DORMANT_COLUMNS = [
    "group_id",
    "group",
    "email",
    "name",
    "role",
    "access_level",
    "last_sign_in_at",
    "joined_at",
    "days_dormant",
    "full_access",
]
TRENDS_COLUMNS = ["month", "group_id", "group", "deactivations", "reactivations"]
SUMMARY_COLUMNS = ["group_id", "group", "active", "inactive"]
CANDIDATE_COLUMNS = ["email", "group", "action", "reason"]

# The checklist items that can stay open on an inactive member, in checklist order.
OPEN_ITEMS = RESOLVABLE
# A finding is an inactive member with one of these items open; the column that shows it.
FINDINGS = {item.finding: item.id for item in REGISTRY if item.finding is not None}
# the column each open item is read into: its finding's, else a private one
_OPEN_COLUMNS = {
    item.id: item.finding or f"_open_{item.id}" for item in REGISTRY if item.id in OPEN_ITEMS
}


def _non_negative(value, option: str) -> int:
    try:
        days = operator.index(value)  # int or a numpy integer, not 1.5 or "90"
    except TypeError:
        days = -1
    if isinstance(value, bool) or days < 0:
        raise BadInput(f"{value!r} is not a whole number of days (0 or more)", column=option)
    return days


def _as_of(value: datetime | str | None) -> datetime:
    """The instant dormancy is measured at, as naive UTC like the stored times."""
    if value is None:
        return now()
    if isinstance(value, str):
        return parse_time(value, where="as_of")
    if value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


@contextmanager
def _reading(db: Database) -> Iterator[Connection]:
    """A read connection for a report, with PostgreSQL tuned for it in this transaction only.

    At a million members the JIT compiles a report's query (its per-row EXISTS make the
    estimated cost high) for longer than the query then runs, and the default 4 MB of
    ``work_mem`` spills the hash joins and the sort to disk.
    """
    with db.read() as conn:
        if db.dialect == "postgresql":
            conn.exec_driver_sql("SET LOCAL jit = off")
            conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
        yield conn


def _read(db: Database, query: Select, group: str | None) -> pd.DataFrame:
    """Run ``query``, narrowed to ``group`` (id or exact name) when given, into a frame."""
    with _reading(db) as conn:
        if group is not None:
            group_id = find_group(conn, group).group_id
            query = query.where(query.selected_columns["group_id"] == group_id)
        return pd.read_sql(query, conn)


def _status_is(db: Database, status: str) -> ColumnElement[bool]:
    """``memberships.status = status``, written so that SQLite scans the table for it.

    Without statistics SQLite answers an equality on ``status`` through an index that
    starts with it, and then visits the table rows in random order: on a large table
    several times slower than one sequential scan, even for a tenth of the rows. The
    unary ``+`` is SQLite's way of keeping a term out of index selection; an index on
    ``group_id`` is still used when a group is asked for. PostgreSQL plans this well.
    """
    if db.dialect == "sqlite":
        unindexed = UnaryExpression(m.status, operator=custom_op("+"), type_=String())
        return unindexed == status
    return m.status == status


def _time(db: Database, column) -> ColumnElement:
    """A time column to select. SQLite keeps times as ISO text: it is fetched as text and
    parsed by ``_times`` in one vectorised pass, which on a large report is several
    times faster than parsing row by row while fetching."""
    if db.dialect == "sqlite":
        return type_coerce(column, String).label(column.name)
    return column


def _times(frame: pd.DataFrame, *columns: str) -> None:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], format="ISO8601").astype("datetime64[us]")


def _bools(frame: pd.DataFrame, *columns: str) -> None:
    for column in columns:
        frame[column] = frame[column].astype(bool)


def inactive_report(db: Database, *, group: str | None = None) -> pd.DataFrame:
    """Inactive members: when, by whom and why, open checklist items, and findings.

    ``finding`` marks an inactive member who can still be booked online (a booking
    profile not both hidden and disabled), or still has an enabled integration or
    auto top-up: the checklist was not worked before deactivating them.
    """
    pending = pending_conditions(s.memberships)
    changed_by = s.users.alias("changed_by")
    # a lookup per inactive row: cheaper than joining (and hashing) every user once more
    deactivated_by = (
        select(changed_by.c.email)
        .where(changed_by.c.user_id == m.status_changed_by)
        .scalar_subquery()
    )
    query = (
        select(
            m.group_id,
            g.name.label("group"),
            u.email,
            u.name,
            m.role,
            m.access_level,
            _time(db, m.status_changed_at).label("deactivated_at"),
            deactivated_by.label("deactivated_by"),
            m.status_reason.label("reason"),
            *(pending[item].label(column) for item, column in _OPEN_COLUMNS.items()),
        )
        .select_from(s.memberships)
        .join(s.users, u.user_id == m.user_id)
        .join(s.groups, g.group_id == m.group_id)
        .where(_status_is(db, "inactive"))
        .order_by(g.name, u.email_key)
    )
    frame = _read(db, query, group)
    _times(frame, "deactivated_at")
    _bools(frame, *_OPEN_COLUMNS.values())
    listed = pd.Series("", index=frame.index, dtype=object)
    for item, column in _OPEN_COLUMNS.items():
        listed = listed + frame[column].map({True: item + ",", False: ""}).astype(object)
    frame["open_items"] = listed.str.rstrip(",").astype(str)
    frame["finding"] = frame[list(FINDINGS)].any(axis=1)
    return frame[INACTIVE_COLUMNS]


def dormant_report(
    db: Database,
    *,
    days: int = 90,
    grace_days: int = 30,
    group: str | None = None,
    as_of: datetime | str | None = None,
) -> pd.DataFrame:
    """Active members with no sign-in for at least ``days`` days before ``as_of`` (default
    now), or who never signed in and joined more than ``grace_days`` days ago.

    ``days_dormant`` counts from the last sign-in, or from joining when there was none.
    Members who never signed in and have no join date are left out: nothing says how
    long they have been idle. ``full_access`` members cannot be offboarded before their
    access level is lowered (R3).
    """
    days = _non_negative(days, "--days")
    grace_days = _non_negative(grace_days, "--grace")
    at = _as_of(as_of)
    signed_in_by = at - timedelta(days=days)
    joined_by = at - timedelta(days=grace_days)
    idle_since = func.coalesce(m.last_sign_in_at, m.joined_at)
    query = (
        select(
            m.group_id,
            g.name.label("group"),
            u.email,
            u.name,
            m.role,
            m.access_level,
            _time(db, m.last_sign_in_at),
            _time(db, m.joined_at),
        )
        .select_from(s.memberships)
        .join(s.users, u.user_id == m.user_id)
        .join(s.groups, g.group_id == m.group_id)
        .where(
            _status_is(db, "active"),
            (m.last_sign_in_at <= signed_in_by)
            | (m.last_sign_in_at.is_(None) & (m.joined_at < joined_by)),
        )
        .order_by(g.name, idle_since, u.email_key)
    )
    frame = _read(db, query, group)
    _times(frame, "last_sign_in_at", "joined_at")
    idle = frame["last_sign_in_at"].fillna(frame["joined_at"])
    frame["days_dormant"] = (at - idle).dt.days.astype("int64")
    frame["full_access"] = (frame["access_level"] == s.FULL).astype(bool)
    return frame[DORMANT_COLUMNS]


def _month(db: Database, column) -> ColumnElement[str]:
    """``YYYY-MM`` of a timestamp; each database spells it differently."""
    if db.dialect == "sqlite":
        return func.strftime(literal_column("'%Y-%m'"), column)
    if db.dialect == "postgresql":
        return func.to_char(column, literal_column("'YYYY-MM'"))
    raise BadInput(f"reports do not support the {db.dialect} database", column="--db")


def trends_report(db: Database, *, group: str | None = None) -> pd.DataFrame:
    """Deactivations and reactivations per month (``YYYY-MM``) and group, from the audit trail.

    Months without either action are not listed.
    """
    e = s.audit_events.c
    month = _month(db, e.at).label("month")
    counts = (
        select(
            month,
            e.group_id,
            func.count().filter(e.action == s.Action.DEACTIVATED.value).label("deactivations"),
            func.count().filter(e.action == s.Action.REACTIVATED.value).label("reactivations"),
        )
        .where(e.action.in_([s.Action.DEACTIVATED.value, s.Action.REACTIVATED.value]))
        .group_by(month, e.group_id)
    )
    with _reading(db) as conn:
        if group is not None:
            counts = counts.where(e.group_id == find_group(conn, group).group_id)
        per_month = counts.subquery()
        query = (
            select(
                per_month.c.month,
                per_month.c.group_id,
                g.name.label("group"),
                per_month.c.deactivations,
                per_month.c.reactivations,
            )
            .select_from(per_month)
            .outerjoin(s.groups, g.group_id == per_month.c.group_id)
            .order_by(per_month.c.month, g.name, per_month.c.group_id)
        )
        frame = pd.read_sql(query, conn)
    for column in ("deactivations", "reactivations"):
        frame[column] = frame[column].astype("int64")
    return frame[TRENDS_COLUMNS]


def status_summary(db: Database, *, group: str | None = None) -> pd.DataFrame:
    """Active and inactive members per group (groups without members count zero)."""
    counts = (
        select(
            m.group_id,
            func.count().filter(m.status == "active").label("active"),
            func.count().filter(m.status == "inactive").label("inactive"),
        )
        .group_by(m.group_id)
        .subquery()
    )
    query = (
        select(
            g.group_id,
            g.name.label("group"),
            func.coalesce(counts.c.active, 0).label("active"),
            func.coalesce(counts.c.inactive, 0).label("inactive"),
        )
        .select_from(s.groups)
        .outerjoin(counts, counts.c.group_id == g.group_id)
        .order_by(g.name)
    )
    frame = _read(db, query, group)
    for column in ("active", "inactive"):
        frame[column] = frame[column].astype("int64")
    return frame[SUMMARY_COLUMNS]


class CandidatesFile(NamedTuple):
    """What ``write_candidates_csv`` wrote: the file, its rows, and who was left out."""

    path: Path
    written: int
    full_access_left_out: int


def write_candidates_csv(
    dormant: pd.DataFrame, path: str | Path, *, include_full_access: bool = False
) -> CandidatesFile:
    """Write the dormant members as bulk offboarding input: ``email,group,action,reason``.

    ``group`` is the group id and ``action`` is ``deactivate``. Full Access members are
    left out unless ``include_full_access``: a plan would only block them (R3), and
    they need their access level lowered by a person first.
    """
    missing = {"email", "group_id", "days_dormant", "full_access"} - set(dormant.columns)
    if missing:
        raise BadInput(f"not a dormant report: no column {', '.join(sorted(missing))}")
    keep = dormant if include_full_access else dormant[~dormant["full_access"].astype(bool)]
    target = Path(path)
    rows = (
        [email, group_id, "deactivate", f"dormant {int(days)} days"]
        for email, group_id, days in zip(
            keep["email"], keep["group_id"], keep["days_dormant"], strict=True
        )
    )
    try:
        with target.open("w", newline="", encoding="utf-8") as out:
            write_csv(out, CANDIDATE_COLUMNS, rows)
    except OSError as error:  # no such folder, a full disk, a folder by that name, ...
        reason = error.strerror or type(error).__name__
        raise BadInput(f"cannot write the candidates: {reason}", file=str(target)) from None
    return CandidatesFile(target, len(keep), len(dormant) - len(keep))
