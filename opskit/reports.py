"""Reports on inactive users (docs/rules.md "Reports"), as pandas DataFrames computed in SQL.

Each report filters, joins, aggregates and sorts in the database and hands pandas only
the rows of the answer; what pandas adds is derived per returned row (a day count, the
list of open checklist items). Reports only read.

- ``inactive_report``: inactive members, who deactivated them and why, their open
  checklist items, and the findings (still bookable online, an integration still on,
  auto top-up still on).
- ``dormant_report``: active members with no activity (sign-in, started appointment,
  patient record created) for N days, or none at all since joining more than a grace
  period ago, by each group's dormancy policy: offboarding candidates.
  ``write_candidates_csv`` hands them to bulk offboarding.
- ``trends_report``: deactivations and reactivations per month and group, from the
  audit trail; ``status_summary``: active and inactive members per group.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    DateTime,
    Integer,
    Select,
    String,
    case,
    func,
    literal,
    literal_column,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from . import schema as s
from .checklist import REGISTRY, RESOLVABLE, pending_conditions
from .clock import now, parse_time
from .db import Database
from .errors import BadInput
from .policy import DEFAULT_DORMANT_DAYS, DEFAULT_GRACE_DAYS, policy_days, whole_days
from .rules import find_group
from .spreadsheet import write_frame_csv

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
    "last_active_at",
    "activity",
    "joined_at",
    "days_dormant",
    "full_access",
]
TRENDS_COLUMNS = ["month", "group_id", "group", "deactivations", "reactivations"]
SUMMARY_COLUMNS = ["group_id", "group", "active", "inactive"]
CANDIDATE_COLUMNS = ["email", "group", "action", "reason"]
# up to this many groups in a report, their names are read by id; beyond, all of them
_FEW_GROUPS = 100

# The checklist items that can stay open on an inactive member, in checklist order.
OPEN_ITEMS = RESOLVABLE
# A finding is an inactive member with one of these items open; the column that shows it.
FINDINGS = {item.finding: item.id for item in REGISTRY if item.finding is not None}
# the column each open item is read into: its finding's, else a private one
_OPEN_COLUMNS = {
    item.id: item.finding or f"_open_{item.id}" for item in REGISTRY if item.id in OPEN_ITEMS
}


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


def _open_items(open_: np.ndarray) -> np.ndarray:
    """Per row of ``open_`` (a column per ``OPEN_ITEMS`` item, true where it is open),
    the open items' ids joined by commas: each row's columns read as the bits of a
    number, which picks one of the few possible texts, each made once."""
    items = list(_OPEN_COLUMNS)
    texts = np.array(
        [
            ",".join(item for bit, item in enumerate(items) if code >> bit & 1)
            for code in range(1 << len(items))
        ],
        dtype=object,
    )
    codes = open_.astype(np.intp) @ (1 << np.arange(len(items), dtype=np.intp))
    return texts[codes]


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
    frame["open_items"] = _open_items(frame[list(_OPEN_COLUMNS.values())].to_numpy(bool))
    frame["finding"] = frame[list(FINDINGS)].any(axis=1)
    return frame[INACTIVE_COLUMNS]


def _instants(at: datetime, days: list[int], name: str) -> Any:
    """A small table ``(days, before)``: for each number of days, the instant that many
    days before ``at``, computed here as the defaults' are (one rule for a cutoff)."""
    rows = [
        select(
            literal(n, Integer).label("days"),
            literal(at - timedelta(days=n), DateTime).label("before"),
        )
        for n in days
    ]
    return (union_all(*rows) if len(rows) > 1 else rows[0]).subquery(name)


def _cutoffs(
    conn: Connection, at: datetime, days: int | None, grace_days: int | None
) -> tuple[ColumnElement, ColumnElement, Any]:
    """The instants before which a member's last activity (``signed_in_by``) and their
    joining (``joined_by``) make them dormant, per group: the group's policy where it has
    one and the option does not override it, else the option, else the default. Returns
    the two expressions and the per-group subquery to join (None when every group shares
    the same cutoffs).

    The subquery joins the policies to the instants of the few day counts they name, so
    the statement stays the same size however many groups have a policy (a literal row
    per group in one UNION ALL: SQLite refuses more than 500).
    """
    default_days = DEFAULT_DORMANT_DAYS if days is None else days
    default_grace = DEFAULT_GRACE_DAYS if grace_days is None else grace_days
    signed_in_by = literal(at - timedelta(days=default_days), DateTime)
    joined_by = literal(at - timedelta(days=default_grace), DateTime)
    if days is not None and grace_days is not None:
        return signed_in_by, joined_by, None
    own = policy_days(conn)
    if not own:
        return signed_in_by, joined_by, None
    p = s.dormancy_policies.c
    query = select(p.group_id).select_from(s.dormancy_policies)
    signed: ColumnElement = signed_in_by
    joined: ColumnElement = joined_by
    if days is None:
        instants = _instants(at, own, "dormant_instants")
        query = query.outerjoin(instants, instants.c.days == p.dormant_days)
        signed = func.coalesce(instants.c.before, signed_in_by)
    if grace_days is None:
        instants = _instants(at, own, "grace_instants")
        query = query.outerjoin(instants, instants.c.days == p.grace_days)
        joined = func.coalesce(instants.c.before, joined_by)
    cut = query.add_columns(
        type_coerce(signed, DateTime).label("signed_in_by"),
        type_coerce(joined, DateTime).label("joined_by"),
    ).subquery("cutoffs")
    return (
        func.coalesce(cut.c.signed_in_by, signed_in_by),
        func.coalesce(cut.c.joined_by, joined_by),
        cut,
    )


def _latest(db: Database, *times) -> ColumnElement:
    """The latest of some times, NULLs ignored (NULL when all are). PostgreSQL's
    ``greatest`` ignores NULLs; SQLite's ``max(a, b, ...)`` would return NULL, so there
    the ISO texts are compared with NULL as the empty text, which sorts first."""
    if db.dialect == "sqlite":
        return func.nullif(func.max(*(func.coalesce(time_, "") for time_ in times)), "")
    return func.greatest(*times)


def _user(db: Database, user_id: ColumnElement) -> tuple[Any, ColumnElement[bool]]:
    """The users table to join to the dormant candidates by ``user_id``, and the join
    condition. PostgreSQL hashed all 918,000 users to join 108,000 candidates (a third of
    a second at a million members); a lateral lookup of one row (the ``LIMIT`` keeps it
    from being turned back into that join) reads only the candidates' users by the
    primary key. SQLite joins by the primary key already (and has no LATERAL)."""
    if db.dialect == "sqlite":
        return s.users, u.user_id == user_id
    one = select(u.email, u.name, u.email_key).where(u.user_id == user_id).limit(1)
    return one.lateral("named"), true()


def _frame(result: CursorResult) -> pd.DataFrame:
    """A frame of a query's rows, fetched as the driver's plain tuples: pandas makes its
    columns from tuples in one pass, where it inspects SQLAlchemy's row objects one by
    one. The report's columns need nothing converted by SQLAlchemy (times are parsed by
    ``_times``)."""
    columns = list(result.keys())
    rows = result.cursor.fetchall()
    result.close()
    return pd.DataFrame.from_records(rows, columns=columns, coerce_float=False)


class _Groups(NamedTuple):
    group: pd.Series  # per row, the group's name
    rank: np.ndarray  # per row, the rank of the group's name in code point order


def _groups(conn: Connection, group_ids: pd.Series) -> _Groups:
    """The names of the rows' groups and their order: read once per group, not joined
    to every candidate row (a lookup per row)."""
    codes, uniques = pd.factorize(group_ids)
    ids = uniques.tolist()
    query = select(g.group_id, g.name)
    if len(ids) <= _FEW_GROUPS:
        query = query.where(g.group_id.in_(ids))
    known = dict(conn.execute(query).all())
    names = np.array([known[group_id] for group_id in ids], dtype=object)
    # the names in the text type of the frame's other text columns
    group = pd.Series(names.take(codes), index=group_ids.index, dtype=group_ids.dtype)
    return _Groups(group, _ranks(names).take(codes))


def _ranks(texts: Any) -> np.ndarray:
    """Each text's place in code point order (Python's, whatever the server's collation),
    ties broken by position. A sort of the texts by index: a third of
    ``pandas.factorize(sort=True)`` on 108,000 emails."""
    values = np.asarray(texts, dtype=object).tolist()
    ranks = np.empty(len(values), dtype=np.intp)
    ranks[sorted(range(len(values)), key=values.__getitem__)] = np.arange(len(values))
    return ranks


def dormant_report(
    db: Database,
    *,
    days: int | None = None,
    grace_days: int | None = None,
    group: str | None = None,
    as_of: datetime | str | None = None,
) -> pd.DataFrame:
    """Active members with no activity for at least ``days`` days before ``as_of``
    (default now): offboarding candidates.

    A member's activity is signing in, an appointment of theirs that has started and a
    patient record they created; ``last_active_at`` is the latest and ``activity`` says
    which (null: none). A member with no activity is dormant once they joined at least
    ``grace_days`` days ago; ``days_dormant`` then counts from joining. Members with no
    activity and no join date are left out: nothing says how long they have been idle.

    Each group's dormancy policy (``opskit.policy``) sets its days and grace days;
    ``days`` or ``grace_days``, when given, override every group's (defaults: 90 and 30).
    Members exempted until a date after ``as_of`` are left out. ``full_access`` members
    cannot be offboarded before their access level is lowered (R3).
    """
    days = whole_days(days, "--days")
    grace_days = whole_days(grace_days, "--grace-days")
    at = _as_of(as_of)
    now_ = literal(at, DateTime)
    a = s.appointments.c
    r = s.patient_records.c
    x = s.dormancy_exemptions.c

    with _reading(db) as conn:
        signed_in_by, joined_by, cut = _cutoffs(conn, at, days, grace_days)
        # 1. The members not signed in since their cutoff, with their latest started
        # appointment: one index lookup each (ix_appointments_practitioner ends with the
        # time, so the latest is the entry before now), materialised so that it runs once
        # a member. One GROUP BY per source joined instead reads every appointment, 4.1
        # million at a million members (three quarters still to come), to answer for the
        # 15% of members not signed in: slower on both databases (docs/performance.md).
        last_appointment = (
            select(func.max(a.starts_at))
            .where(a.group_id == m.group_id, a.practitioner_id == m.user_id, a.starts_at <= now_)
            .scalar_subquery()
        )
        query = select(
            m.group_id,
            m.user_id,
            m.role,
            m.access_level,
            m.last_sign_in_at,
            type_coerce(last_appointment, DateTime).label("_appointment"),
            m.joined_at,
            type_coerce(signed_in_by, DateTime).label("signed_in_by"),
            type_coerce(joined_by, DateTime).label("joined_by"),
        ).select_from(s.memberships)
        if cut is not None:
            query = query.outerjoin(cut, cut.c.group_id == m.group_id)
        query = query.where(
            _status_is(db, "active"),
            m.last_sign_in_at.is_(None) | (m.last_sign_in_at <= signed_in_by),
            ~select(x.until)
            .where(x.group_id == m.group_id, x.user_id == m.user_id, x.until > now_)
            .exists(),
        )
        if group is not None:
            query = query.where(m.group_id == find_group(conn, group).group_id)
        unsigned = query.cte("unsigned").prefix_with("MATERIALIZED")
        d = unsigned.c
        # 2. Of those, the ones with no appointment since the cutoff either, with their
        # latest record: a fifth of them saw a patient lately, and are not looked up.
        last_record = (
            select(func.max(r.created_at))
            .where(r.group_id == d.group_id, r.practitioner_id == d.user_id, r.created_at <= now_)
            .scalar_subquery()
        )
        query = select(
            *(column for column in d if column.name != "signed_in_by"),
            type_coerce(last_record, DateTime).label("_record"),
            d.signed_in_by,
        ).where(d._appointment.is_(None) | (d._appointment <= d.signed_in_by))
        idle = query.cte("idle").prefix_with("MATERIALIZED")
        d = idle.c
        # 3. Those with no record since the cutoff either, named: only the candidates' user
        # rows are read; the latest activity and its source are chosen in SQL.
        last_active = _latest(db, d.last_sign_in_at, d._appointment, d._record)
        sources = (
            (d.last_sign_in_at, "sign_in"),
            (d._appointment, "appointment"),
            (d._record, "patient_record"),
        )
        # the first source that holds the latest time: a sign-in wins a tie
        activity = case(*((time_ == last_active, name) for time_, name in sources), else_=None)
        user, named = _user(db, d.user_id)
        query = (
            select(
                d.group_id,
                user.c.email,
                user.c.name,
                d.role,
                d.access_level,
                _time(db, d.last_sign_in_at),
                _time(db, type_coerce(last_active, DateTime).label("last_active_at")),
                activity.label("activity"),
                _time(db, d.joined_at),
                user.c.email_key,
            )
            .select_from(idle)
            .join(user, named)
            .where(
                # no record since the cutoff either
                d._record.is_(None) | (d._record <= d.signed_in_by),
                # some activity ever, or joined before the grace period
                last_active.is_not(None) | (d.joined_at <= d.joined_by),
            )
        )
        frame = _frame(conn.execute(query))
        names = _groups(conn, frame["group_id"])
    _times(frame, "last_sign_in_at", "last_active_at", "joined_at")
    frame["activity"] = frame["activity"].astype(object).where(frame["activity"].notna(), None)
    idle_since = frame["last_active_at"].fillna(frame["joined_at"])
    frame["days_dormant"] = (at - idle_since).dt.days.astype("int64")
    frame["full_access"] = (frame["access_level"] == s.FULL).astype(bool)
    frame["group"] = names.group
    # By group (name), then the longest idle first, then by email. Sorted here on
    # whole numbers: a database sorting the candidates by texts (name, time, email)
    # spent a fifth of the report on it at a million members, and code points order
    # alike whatever the server's collation.
    order = np.lexsort((_ranks(frame["email_key"]), idle_since.to_numpy("int64"), names.rank))
    return frame[DORMANT_COLUMNS].take(order).reset_index(drop=True)


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
    days = keep["days_dormant"].astype(int).astype(str)
    rows = pd.DataFrame(
        {
            "email": keep["email"],
            "group": keep["group_id"],
            "action": "deactivate",
            "reason": "dormant " + days + " days",
        },
        columns=CANDIDATE_COLUMNS,
    )
    try:
        with target.open("w", newline="", encoding="utf-8") as out:
            write_frame_csv(out, rows)
    except OSError as error:  # no such folder, a full disk, a folder by that name, ...
        reason = error.strerror or type(error).__name__
        raise BadInput(f"cannot write the candidates: {reason}", file=str(target)) from None
    return CandidatesFile(target, len(keep), len(dormant) - len(keep))


# --------------------------------------------------------------- bounded, for charts
# A chart over every group is unreadable past a few dozen (27,357 bar labels at a
# million members) and slow to draw: these count in SQL and return the ``top`` groups
# and one "other" row for the rest, whatever the number of groups.

TOP_GROUPS = 15
MEMBERS_BY_GROUP_COLUMNS = ["group_id", "group", "active", "inactive", "groups"]
DEACTIVATIONS_BY_MONTH_COLUMNS = ["month", "group_id", "group", "deactivations", "groups"]


def _other(groups: int) -> str:
    return f"other ({groups:,} group{'s' if groups != 1 else ''})"


def _top(top: int) -> int:
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise BadInput(f"{top!r} is not a number of groups (1 or more)", column="top")
    return top


def _ranked(counts: Any, weight: ColumnElement) -> Any:
    """``counts`` (a subquery with ``group_id``) with each group's rank by ``weight``,
    the largest first (ties by id, so the same data always ranks the same)."""
    order = (weight.desc(), counts.c.group_id)
    return select(*counts.c, func.row_number().over(order_by=order).label("rank")).subquery(
        "ranked"
    )


def members_by_group(
    db: Database, *, group: str | None = None, top: int = TOP_GROUPS
) -> pd.DataFrame:
    """Active and inactive members of the ``top`` groups with the most members, largest
    first, then one row ``other (N groups)`` summing the rest (``group_id`` null);
    ``groups`` is how many groups a row stands for. Counted in SQL: a chart's worth of
    rows whatever the number of groups. Groups without members are not counted."""
    top = _top(top)
    counts = select(
        m.group_id,
        func.count().filter(m.status == "active").label("active"),
        func.count().filter(m.status == "inactive").label("inactive"),
        func.count().label("members"),
    ).group_by(m.group_id)
    with _reading(db) as conn:
        if group is not None:
            counts = counts.where(m.group_id == find_group(conn, group).group_id)
        c = counts.subquery("counts")
        ranked = _ranked(c, c.c.members)
        kept = case((ranked.c.rank <= top, ranked.c.group_id), else_=None)
        folded = (
            select(
                kept.label("group_id"),
                func.sum(ranked.c.active).label("active"),
                func.sum(ranked.c.inactive).label("inactive"),
                func.count().label("groups"),
                func.min(ranked.c.rank).label("rank"),
            )
            .group_by(kept)
            .subquery("folded")
        )
        query = (
            select(
                folded.c.group_id,
                g.name.label("group"),
                folded.c.active,
                folded.c.inactive,
                folded.c.groups,
            )
            .select_from(folded)
            .outerjoin(s.groups, g.group_id == folded.c.group_id)
            .order_by(folded.c.rank)
        )
        frame = pd.read_sql(query, conn)
    for column in ("active", "inactive", "groups"):
        frame[column] = frame[column].astype("int64")
    other = frame["group_id"].isna()
    frame.loc[other, "group"] = [_other(int(n)) for n in frame.loc[other, "groups"]]
    return frame[MEMBERS_BY_GROUP_COLUMNS]


def deactivations_by_month(
    db: Database, *, group: str | None = None, top: int = TOP_GROUPS
) -> pd.DataFrame:
    """Deactivations per month (``YYYY-MM``) of the ``top`` groups with the most
    deactivations overall, and per month one row ``other (N groups)`` for the rest
    (``group_id`` null; N counts every other group that deactivated anyone), from the
    audit trail; ``groups`` is how many groups a row stands for that month. At most
    ``top`` + 1 series, whatever the number of groups."""
    top = _top(top)
    e = s.audit_events.c
    deactivated = e.action == s.Action.DEACTIVATED.value
    totals = select(e.group_id, func.count().label("total")).where(deactivated)
    with _reading(db) as conn:
        if group is not None:
            totals = totals.where(e.group_id == find_group(conn, group).group_id)
        per_group = totals.group_by(e.group_id).subquery("totals")
        ranked = _ranked(per_group, per_group.c.total)
        kept = case((ranked.c.rank <= top, ranked.c.group_id), else_=None)
        month = _month(db, e.at)
        folded = (
            select(
                month.label("month"),
                kept.label("group_id"),
                func.count().label("deactivations"),
                func.count(e.group_id.distinct()).label("groups"),
                func.min(ranked.c.rank).label("rank"),
            )
            .select_from(s.audit_events)
            .join(ranked, ranked.c.group_id == e.group_id)
            .where(deactivated)
            .group_by(month, kept)
            .subquery("folded")
        )
        query = (
            select(
                folded.c.month,
                folded.c.group_id,
                g.name.label("group"),
                folded.c.deactivations,
                folded.c.groups,
            )
            .select_from(folded)
            .outerjoin(s.groups, g.group_id == folded.c.group_id)
            .order_by(folded.c.month, folded.c.rank)
        )
        frame = pd.read_sql(query, conn)
        others = (
            conn.execute(
                select(func.count()).select_from(per_group).where(per_group.c.total > 0)
            ).scalar_one()
            - top
        )
    for column in ("deactivations", "groups"):
        frame[column] = frame[column].astype("int64")
    frame.loc[frame["group_id"].isna(), "group"] = _other(max(others, 0))
    return frame[DEACTIVATIONS_BY_MONTH_COLUMNS]


def write_report_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a report (any of the frames here) as CSV for people (``spreadsheet.write_frame_csv``:
    a cell that looks like a formula stays text; an empty cell for a missing value);
    its folder is made. Returns the path."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", newline="", encoding="utf-8") as out:
            write_frame_csv(out, frame)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise BadInput(f"cannot write the report: {reason}", file=str(target)) from None
    return target
