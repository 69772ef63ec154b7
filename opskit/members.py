"""Reading members: filtered, sorted and paged in SQL (never the whole table in memory).

Lists show active members first and inactive ones after them, as the product does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, or_, select

from . import schema as s
from .clock import iso
from .db import Database
from .errors import BadInput
from .rules import find_group

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

    def apply(self, query: Select) -> Select:
        if self.group_id is not None:
            query = query.where(m.group_id == self.group_id)
        if self.status not in ("all", "active", "inactive"):
            raise BadInput(
                f"{self.status!r} is not a status (active, inactive, all)", column="--status"
            )
        if self.status != "all":
            query = query.where(m.status == self.status)
        if self.role is not None:
            query = query.where(m.role == self.role)
        if self.access_level is not None:
            query = query.where(m.access_level == self.access_level)
        if self.read_only is not None:
            query = query.where(m.read_only.is_(self.read_only))
        if self.account_owner is not None:
            query = query.where(m.account_owner.is_(self.account_owner))
        if self.user_id is not None:
            query = query.where(m.user_id == self.user_id)
        if self.text:
            needle = f"%{self.text.strip().lower()}%"
            query = query.where(or_(u.email_key.like(needle), func.lower(u.name).like(needle)))
        return query


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
    with db.read() as conn:
        inner = where.apply(
            select(m.membership_id)
            .select_from(s.memberships)
            .join(s.users, u.user_id == m.user_id)
            .join(s.groups, g.group_id == m.group_id)
        ).subquery()
        return conn.execute(select(func.count()).select_from(inner)).scalar_one()
