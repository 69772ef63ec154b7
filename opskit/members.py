"""Reading members: filtered, sorted and paged in SQL (never the whole table in memory).

Lists show active members first and inactive ones after them, as the product does.

The user table reads a page at a time: ``member_counts`` counts what a filter matches,
``member_page`` fetches one page of it, ``member_keys`` only the keys of every match
(for "select all"), ``members_by_keys`` a selection. On a million memberships a page
must not sort the whole table: see ``member_page``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import islice
from typing import Any

from sqlalchemy import (
    Connection,
    FromClause,
    Join,
    Select,
    case,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from . import schema as s
from .clock import iso
from .db import Database, in_values
from .errors import BadInput
from .rules import find_group, find_user

m = s.memberships.c
u = s.users.c
g = s.groups.c

_changed_by = s.users.alias("changed_by")

SORTABLE = {
    "name": u.name,
    "email": u.email_key,
    "group": g.name,
    "role": m.role,
    "access_level": m.access_level,
    "last_sign_in_at": m.last_sign_in_at,
    "joined_at": m.joined_at,
}

MEMBER_COLUMNS = [
    "group_id",
    "group",
    "user_id",
    "email",
    "name",
    "role",
    "access_level",
    "read_only",
    "account_owner",
    "status",
    "open_sessions",
    "last_sign_in_at",
]


@dataclass(frozen=True)
class MemberFilter:
    """What an analyst narrows the member list by; every field is optional."""

    group_id: str | None = None
    status: str = "all"  # active, inactive, all
    role: str | None = None
    access_level: str | None = None
    read_only: bool | None = None
    account_owner: bool | None = None
    text: str | None = None  # part of a name or email
    user_id: str | None = None
    # only the groups where this user (an actor) holds an active membership
    visible_to: str | None = None

    def apply(self, query: Select) -> Select:
        """Narrow ``query``, which selects from memberships joined with users."""
        return query.where(*self.conditions())

    @property
    def needs_users(self) -> bool:
        """Does the filter read the users table (so a query must join it)?"""
        return bool(self.text and self.text.strip())

    def conditions(self) -> list:
        """The filter as conditions on memberships (and users, when ``needs_users``)."""
        if self.status not in ("all", "active", "inactive"):
            raise BadInput(
                f"{self.status!r} is not a status (active, inactive, all)", column="--status"
            )
        found = []
        if self.group_id is not None:
            found.append(m.group_id == self.group_id)
        if self.visible_to is not None:
            theirs = s.memberships.alias("viewer")
            found.append(
                m.group_id.in_(
                    select(theirs.c.group_id).where(
                        theirs.c.user_id == self.visible_to, theirs.c.status == "active"
                    )
                )
            )
        if self.status != "all":
            found.append(m.status == self.status)
        if self.role is not None:
            found.append(m.role == self.role)
        if self.access_level is not None:
            found.append(m.access_level == self.access_level)
        if self.read_only is not None:
            found.append(m.read_only.is_(self.read_only))
        if self.account_owner is not None:
            found.append(m.account_owner.is_(self.account_owner))
        if self.user_id is not None:
            found.append(m.user_id == self.user_id)
        if self.needs_users:
            # typed text is literal: % and _ match themselves
            needle = (self.text or "").strip().lower()
            found.append(
                or_(
                    u.email_key.contains(needle, autoescape=True),
                    func.lower(u.name).contains(needle, autoescape=True),
                )
            )
        return found


def _open_sessions():
    c = s.sessions.c
    return (
        select(func.count())
        .where(c.group_id == m.group_id, c.user_id == m.user_id, c.revoked_at.is_(None))
        .scalar_subquery()
    )


def members_query(where: MemberFilter) -> Select:
    """The member rows for ``where``, active first, without paging."""
    query = (
        select(
            m.membership_id,
            m.group_id,
            g.name.label("group"),
            m.user_id,
            u.email,
            u.name,
            m.role,
            m.access_level,
            m.read_only,
            m.account_owner,
            m.status,
            _open_sessions().label("open_sessions"),
            m.joined_at,
            m.last_sign_in_at,
            m.status_changed_at,
            _changed_by.c.email.label("status_changed_by"),
            m.status_reason,
        )
        .select_from(s.memberships)
        .join(s.users, u.user_id == m.user_id)
        .join(s.groups, g.group_id == m.group_id)
        .outerjoin(_changed_by, _changed_by.c.user_id == m.status_changed_by)
    )
    return where.apply(query)


def _ordered(query: Select, sort: str, descending: bool) -> Select:
    if sort not in SORTABLE:
        raise BadInput(f"cannot sort by {sort!r} ({', '.join(SORTABLE)})", column="sort")
    key = SORTABLE[sort]
    inactive_last = case((m.status == "active", 0), else_=1)
    return query.order_by(
        inactive_last, key.desc() if descending else key.asc(), g.name, u.email_key, m.group_id
    )


def _as_dict(row) -> dict[str, Any]:
    record = dict(row._mapping)
    for key in ("joined_at", "last_sign_in_at", "status_changed_at"):
        record[key] = iso(record[key])
    record["read_only"] = bool(record["read_only"])
    record["account_owner"] = bool(record["account_owner"])
    return record


def list_members(
    db: Database,
    *,
    group: str | None = None,
    status: str = "all",
    where: MemberFilter | None = None,
    sort: str = "name",
    descending: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Members as dicts (the contract's member keys and more), active ones first."""
    with db.read() as conn:
        if where is None:
            group_id = find_group(conn, group).group_id if group is not None else None
            where = MemberFilter(group_id=group_id, status=status)
        query = _ordered(members_query(where), sort, descending)
        if limit is not None:
            query = query.limit(limit).offset(offset)
        return [_as_dict(row) for row in conn.execute(query)]


def count_members(db: Database, where: MemberFilter) -> int:
    return member_counts(db, where).total


# --- the user table: counts, one page, keys, a selection -----------------------------


@dataclass(frozen=True)
class MemberCounts:
    """How many members a filter matches, and how many of those are active."""

    total: int
    active: int

    @property
    def inactive(self) -> int:
        return self.total - self.active


def member_counts(
    db: Database, where: MemberFilter, *, among: Iterable[int] | None = None
) -> MemberCounts:
    """How many members ``where`` matches (of the memberships ``among`` only, if given)."""
    active = func.count().filter(m.status == "active")
    with db.read() as conn:
        if among is None:
            query = _matching(where, func.count(), active)
        else:  # from the few memberships named, never a scan of the users for the text
            source = (
                s.memberships.join(s.users, _ON[s.users]) if where.needs_users else s.memberships
            )
            query = (
                select(func.count(), active)
                .select_from(source)
                .where(in_values(conn, m.membership_id, among), *where.conditions())
            )
        total, active_count = conn.execute(query).one()
    return MemberCounts(int(total), int(active_count or 0))


# Sort keys of the user table, each completed into a total order (so that pages never
# overlap): ties broken by person, then group; for times by membership, which an index
# keeps in order with the time (tens of thousands who never signed in tie). Members
# who never signed in sort as each backend orders NULL: first on SQLite, last on
# PostgreSQL (the order its index serves).
PAGE_ORDER = {
    "name": (u.name, u.email_key, g.name, m.group_id),
    "email": (u.email_key, g.name, m.group_id),
    "group": (g.name, u.name, u.email_key),
    "role": (m.role, u.name, u.email_key, g.name, m.group_id),
    "access_level": (m.access_level, u.name, u.email_key, g.name, m.group_id),
    "last_sign_in_at": (m.last_sign_in_at, m.membership_id),
    "joined_at": (m.joined_at, m.membership_id),
}
# the table whose index yields each sort's first key in order
_SORT_TABLE = {"name": s.users, "email": s.users, "group": s.groups}


# SQLite's planner does not weigh LIMIT: left alone it sorts a million rows for one
# page, or walks a whole index to find a few hundred matches. These two constructs let
# ``member_page`` choose; on PostgreSQL they are a plain JOIN and a plain column.
class _LoopFirst(Join):
    """An inner join whose left table SQLite loops over first (its CROSS JOIN)."""

    inherit_cache = True


@compiles(_LoopFirst, "sqlite")
def _sqlite_loop_first(join: _LoopFirst, compiler, **kw) -> str:
    # SQLAlchemy's own visit_join, with SQLite's join-order-fixing keyword
    kw["asfrom"] = True
    left = compiler.process(join.left, **kw)
    right = compiler.process(join.right, **kw)
    from_linter = kw.get("from_linter")
    if from_linter:
        from_linter.edges.update(
            (a, b) for a in join.left._from_objects for b in join.right._from_objects
        )
    return f"{left} CROSS JOIN {right} ON {compiler.process(join.onclause, **kw)}"


class _Unindexed(FunctionElement):
    """A sort key SQLite must not read from an index (its unary ``+``): sort the matches."""

    inherit_cache = True


@compiles(_Unindexed)
def _plain_key(key: _Unindexed, compiler, **kw) -> str:
    return compiler.process(key.clauses, **kw)


@compiles(_Unindexed, "sqlite")
def _sqlite_unindexed_key(key: _Unindexed, compiler, **kw) -> str:
    return "+" + compiler.process(key.clauses, **kw)


_ON = {s.users: u.user_id == m.user_id, s.groups: g.group_id == m.group_id}


def _matching(where: MemberFilter, *columns) -> Select:
    source: FromClause = s.memberships
    if where.needs_users:  # scan the users once for the text, then their memberships
        source = _LoopFirst(s.users, s.memberships, u.user_id == m.user_id)
    return select(*columns).select_from(source).where(*where.conditions())


def _from_driven_by(first) -> Join:
    """Memberships, users and groups joined, in this loop order on SQLite: ``first``,
    then memberships, then the other one."""
    if first is s.memberships:
        return _LoopFirst(_LoopFirst(s.memberships, s.users, _ON[s.users]), s.groups, _ON[s.groups])
    other = s.groups if first is s.users else s.users
    return _LoopFirst(_LoopFirst(first, s.memberships, _ON[first]), other, _ON[other])


def _walks_sort_index(matching: int, population: int, depth: int, limit: int) -> bool:
    """Walk the sort key's index (stopping after the page) rather than sort every match?

    A walk visits about ``(depth + limit) * population / matching`` memberships to reach
    the page; a sort fetches and orders all ``matching`` ones, a few times dearer each.
    """
    return matching > 0 and (depth + limit) * population / matching < 3 * matching


# Sorts whose keys are never NULL can continue a page from its neighbour's row (keyset
# paging), which costs the same at any depth; the others page by offset only.
KEYSET_SORTS = frozenset({"name", "email", "group", "role", "access_level"})


@dataclass(frozen=True)
class _Anchor:
    """A row next to the wanted page: the rows ``after`` it, or those before it."""

    status: str
    values: tuple  # its sort keys
    after: bool
    skip: int = 0  # rows between it and the page


def _anchor(conn: Connection, sort: str, membership_id: int | None, *, after: bool, skip: int = 0):
    if membership_id is None or sort not in KEYSET_SORTS:
        return None
    found = conn.execute(
        select(m.status, *PAGE_ORDER[sort])
        .select_from(s.memberships.join(s.users, _ON[s.users]).join(s.groups, _ON[s.groups]))
        .where(m.membership_id == membership_id)
    ).first()
    return None if found is None else _Anchor(found[0], tuple(found[1:]), after, skip)


def _status_part_ids(
    conn: Connection,
    where: MemberFilter,
    status: str,
    size: int,
    sort: str,
    descending: bool,
    limit: int,
    offset: int,
    anchor: _Anchor | None = None,
) -> list[int]:
    """Ids of rows ``offset`` .. ``offset + limit`` of one status part (``size`` rows).

    With an ``anchor`` in this part the rows are found next to it instead of counted
    from an end. Otherwise a page in the second half is read backwards from the end,
    so that no page skips more than half of its part.
    """
    limit = min(limit, size - offset)
    if limit <= 0:
        return []
    keys: list[Any] = list(PAGE_ORDER[sort])
    beside: list = []  # where the rows lie relative to the anchor
    if anchor is not None and anchor.status == status:
        backwards, offset = not anchor.after, anchor.skip
        # rows after the anchor in list order, or before it (read backwards)
        greater = descending == backwards
        mark = tuple_(*(literal(v, k.type) for k, v in zip(keys, anchor.values, strict=True)))
        first, first_value = keys[0], anchor.values[0]
        beside = [
            tuple_(*keys) > mark if greater else tuple_(*keys) < mark,
            first >= first_value if greater else first <= first_value,  # an index can seek
        ]
    else:
        backwards = offset > size // 2
        if backwards:
            offset = size - offset - limit
    query = _status_part_query(
        conn, where, status, size, sort, descending != backwards, offset + limit, beside
    )
    ids = list(conn.execute(query.limit(limit).offset(offset)).scalars())
    return ids[::-1] if backwards else ids


def _status_part_query(
    conn: Connection,
    where: MemberFilter,
    status: str,
    size: int,
    sort: str,
    descending: bool,
    depth: int,
    beside: list,
) -> Select:
    """The membership ids of one status part in ``sort`` order (``descending``), read the
    cheaper way for rows up to ``depth`` (see ``_walks_sort_index``)."""
    keys: list[Any] = list(PAGE_ORDER[sort])
    source = s.memberships.join(s.users, _ON[s.users]).join(s.groups, _ON[s.groups])
    conditions = [*where.conditions(), m.status == status, *beside]
    if conn.dialect.name == "sqlite":
        # the highest id stands in for the count (ids are rarely deleted, and the choice
        # only needs the scale): one seek, where a count reads the whole table, which
        # after a change (the first read sees a new file) took up to 0.6 s at a million
        population = conn.execute(select(func.max(m.membership_id))).scalar() or 0
        if _walks_sort_index(size, population, depth, 0):
            source = _from_driven_by(_SORT_TABLE.get(sort, s.memberships))
        else:
            keys = [_Unindexed(key) for key in keys]
            # scan the users once for the text, else the members; then join the rest
            source = _from_driven_by(s.users if where.needs_users else s.memberships)
            # Most members share a status: reading them through an index on status
            # costs a random row lookup each, far more than a scan.
            conditions = [
                *replace(where, status="all").conditions(),
                _Unindexed(m.status) == status,
                *beside,
            ]
    return (
        select(m.membership_id)
        .select_from(source)
        .where(*conditions)
        .order_by(*(key.desc() if descending else key.asc() for key in keys))
    )


def page_marks(
    db: Database,
    where: MemberFilter,
    *,
    status: str,
    size: int,
    sort: str,
    descending: bool = False,
    every: int = 1000,
    stop: Callable[[], bool] = lambda: False,
) -> list[int] | None:
    """The membership ids of rows ``every - 1``, ``2 * every - 1`` ... of one status part
    (``size`` rows, in page order): a jump deep into the list starts next to the mark
    before it (``member_page(after=mark, skip=...)``) instead of counting every row from an
    end. One walk of the whole part, ids only; None if ``stop()`` turns true on the way
    (checked every ``every`` rows), or for a sort that cannot start beside a row."""
    if sort not in KEYSET_SORTS:
        return None
    marks: list[int] = []
    with db.read() as conn:
        query = _status_part_query(conn, where, status, size, sort, descending, size, [])
        rows = conn.execution_options(yield_per=every).execute(query).scalars()
        for mark in islice(rows, every - 1, None, every):
            if stop():
                return None
            marks.append(mark)
    return marks


def member_page(
    db: Database,
    where: MemberFilter,
    *,
    sort: str = "name",
    descending: bool = False,
    limit: int = 25,
    offset: int = 0,
    counts: MemberCounts | None = None,
    checklist: bool = True,
    after: int | None = None,
    before: int | None = None,
    skip: int = 0,
) -> list[dict[str, Any]]:
    """One page of the members ``where`` matches: active ones first, then inactive ones.

    Each status part is ordered by ``sort`` on its own, so that an index can deliver a
    page without sorting the whole table. ``counts`` (``member_counts`` of the same
    filter) saves counting again. With ``checklist`` each row carries
    ``open_checklist``: its pending checklist items (None without the checklist module).

    Paging on from a page already shown: ``after`` is the membership id of the row just
    before the wanted page (the last row of the previous one), ``before`` that of the
    row just after it. The page is then found next to that row, as fast deep in a
    million members as at the top (for the sorts in ``KEYSET_SORTS``). ``skip``: rows
    between ``after`` and the page (a jump from one of ``page_marks``).
    """
    if sort not in PAGE_ORDER:
        raise BadInput(f"cannot sort by {sort!r} ({', '.join(PAGE_ORDER)})", column="sort")
    if limit < 1 or offset < 0:
        raise BadInput(f"a page needs limit >= 1 and offset >= 0, not {limit} and {offset}")
    if counts is None:
        counts = member_counts(db, where)
    with db.read() as conn:
        anchor = _anchor(conn, sort, after, after=True, skip=skip) or _anchor(
            conn, sort, before, after=False
        )
        ids: list[int] = []
        start = offset
        for status, size in (("active", counts.active), ("inactive", counts.inactive)):
            if start < size and len(ids) < limit:
                ids += _status_part_ids(
                    conn, where, status, size, sort, descending, limit - len(ids), start, anchor
                )
            start = max(0, start - size)
        return _rows_by_id(conn, ids, checklist=checklist)


def _rows_by_id(conn: Connection, ids: Sequence[int], *, checklist: bool) -> list[dict[str, Any]]:
    if not ids:
        return []
    query = members_query(MemberFilter()).where(m.membership_id.in_(list(ids)))
    found = {row.membership_id: _as_dict(row) for row in conn.execute(query)}
    rows = [found[i] for i in ids if i in found]
    return _with_checklist(conn, rows) if checklist else rows


def _with_checklist(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pending = open_checklist_items(conn, [row["membership_id"] for row in rows])
    for row in rows:
        row["open_checklist"] = None if pending is None else pending[row["membership_id"]]
    return rows


def open_checklist_items(conn: Connection, membership_ids: Sequence[int]) -> dict | None:
    """The pending checklist items of these memberships (and no others), by membership id.

    None when the checklist module is not installed.
    """
    try:
        from .checklist import pending_conditions
    except ImportError:
        return None
    conditions = pending_conditions(s.memberships)
    pending: dict[int, list[str]] = {i: [] for i in membership_ids}
    if not pending or not conditions:
        return pending
    items = list(conditions)
    query = select(
        m.membership_id, *(case((conditions[item], 1), else_=0) for item in items)
    ).where(m.membership_id.in_(list(pending)))
    for row in conn.execute(query):
        pending[row[0]] = [item for item, flag in zip(items, row[1:], strict=True) if flag]
    return pending


def member_keys(
    db: Database, where: MemberFilter, among: Iterable[tuple[str, str]] | None = None
) -> list[tuple[str, str]]:
    """The (group_id, user_id) of every member ``where`` matches, and nothing else;
    ``among``: only those of these keys."""
    query = _matching(where, m.group_id, m.user_id)
    with db.read() as conn:
        if among is None:
            return [(r[0], r[1]) for r in conn.execute(query)]
        wanted, found = sorted(set(among)), []
        for start in range(0, len(wanted), 5000):  # 10,000 parameters a statement
            chunk = wanted[start : start + 5000]
            rows = conn.execute(query.where(tuple_(m.group_id, m.user_id).in_(chunk)))
            found += [(r[0], r[1]) for r in rows]
        return found


def members_by_keys(
    db: Database, keys: Iterable[tuple[str, str]], *, checklist: bool = False
) -> list[dict[str, Any]]:
    """The members with these (group_id, user_id) keys, in list order (active first)."""
    wanted = sorted(set(keys))
    rows: list[dict[str, Any]] = []
    with db.read() as conn:
        for start in range(0, len(wanted), 5000):  # 10,000 parameters a statement
            chunk = wanted[start : start + 5000]
            query = members_query(MemberFilter()).where(tuple_(m.group_id, m.user_id).in_(chunk))
            found = [_as_dict(row) for row in conn.execute(query)]
            rows += _with_checklist(conn, found) if checklist else found
    rows.sort(key=lambda r: (r["status"] != "active", r["name"], r["email"].lower(), r["group"]))
    return rows


@dataclass(frozen=True)
class Viewer:
    """Who looks at the member list, and the groups they may see: those where they
    hold an active membership (a group's data is never shown through another)."""

    user_id: str
    email: str
    groups: tuple[tuple[str, str], ...]  # (group_id, name), by name
    sees_every_group: bool

    @cached_property
    def group_ids(self) -> frozenset[str]:
        return frozenset(group_id for group_id, _ in self.groups)

    def scope(self, **where: Any) -> MemberFilter:
        """A filter bounded to the viewer's groups (no bound needed when they see all)."""
        return MemberFilter(visible_to=None if self.sees_every_group else self.user_id, **where)


def viewer(db: Database, actor: str | None) -> Viewer:
    if actor is None or not actor.strip():
        raise BadInput(
            "required: say whose groups to list (an unmapped login acts as nobody, see "
            "'opskit operators add')",
            column="actor",
        )
    with db.read() as conn:
        user = find_user(conn, actor, option="actor")
        query = (
            select(g.group_id, g.name)
            .join(s.memberships, m.group_id == g.group_id)
            .where(m.user_id == user.user_id, m.status == "active")
            .order_by(g.name)
        )
        groups = tuple((r.group_id, r.name) for r in conn.execute(query))
        every = conn.execute(select(func.count()).select_from(s.groups)).scalar_one()
    return Viewer(user.user_id, user.email, groups, sees_every_group=len(groups) == every)


def member_sessions(db: Database, group_id: str, user_id: str) -> list[dict[str, Any]]:
    """A member's open sessions in one group, newest first."""
    c = s.sessions.c
    query = (
        select(c.session_id, c.device, c.started_at)
        .where(c.group_id == group_id, c.user_id == user_id, c.revoked_at.is_(None))
        .order_by(c.started_at.desc(), c.session_id)
    )
    with db.read() as conn:
        return [
            {"session_id": r.session_id, "device": r.device, "started_at": iso(r.started_at)}
            for r in conn.execute(query)
        ]
