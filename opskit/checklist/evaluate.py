"""Checklist rows: one per membership and item, for a group, a user, a selection or all.

One query reads the members in scope; then one query per item table, over the same
scope (membership ids are chunked so that bind-parameter limits are never hit), returns
what each member has there; never a query per member. The states are decided from
those facts by ``state_of``, with the same pending conditions as ``pending_conditions``,
so the checklist and the reports built on them cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, case, or_, select, tuple_

from .. import schema as s
from ..clock import iso, now
from ..collector import collector_paused
from ..db import Database
from ..errors import UnknownMember
from ..rules import email_key, find_group, find_member, find_user
from . import facts
from .facts import FLAG, Scope, chunks, member_facts, state_table
from .items import REGISTRY, ChecklistItem

CHECKLIST_COLUMNS = [
    "group_id",
    "group",
    "user_id",
    "email",
    "name",
    "role",
    "status",
    "item",
    "state",
    "count",
    "detail",
]

_m = s.memberships.c


def _read_facts(conn: Connection, scope: Scope, at: datetime) -> list[Sequence[Row]]:
    """Per item, in registry order: the facts of every member in scope with rows there."""
    return [conn.execute(member_facts(item, at, scope)).all() for item in REGISTRY]


def _members_query(scope: Scope) -> Select:
    query = (
        select(
            _m.membership_id,
            _m.group_id,
            s.groups.c.name.label("group"),
            _m.user_id,
            s.users.c.email,
            s.users.c.name,
            _m.role,
            _m.status,
        )
        .select_from(s.memberships)
        .join(s.users, s.users.c.user_id == _m.user_id)
        .join(s.groups, s.groups.c.group_id == _m.group_id)
        .order_by(s.groups.c.name, case((_m.status == "active", 0), else_=1), s.users.c.email_key)
    )
    return scope.members(query)


def evaluate(conn: Connection, scope: Scope, at: datetime) -> list[dict[str, Any]]:
    """One row per member in scope and item, members in list order, items in
    ``ITEMS`` order."""
    members = conn.execute(_members_query(scope)).all()
    if not members:
        return []
    as_of = iso(at)
    assert as_of is not None
    per_item = [
        (_parts(item, found, as_of), _without_rows(item, as_of))
        for item, found in zip(REGISTRY, _read_facts(conn, scope, at), strict=True)
    ]
    rows: list[dict[str, Any]] = []
    add = rows.append
    for membership_id, group_id, group, user_id, email, name, role, status in members:
        key = (group_id, user_id)
        administrator = role == "administrator"
        base = {
            "membership_id": membership_id,
            "group_id": group_id,
            "group": group,
            "user_id": user_id,
            "email": email,
            "name": name,
            "role": role,
            "status": status,
        }
        for parts, without_rows in per_item:
            part = parts.get(key)
            # most members of most items have no row there: their part is known in advance
            add({**base, **(without_rows[administrator] if part is None else part)})
    return rows


def _without_rows(item: ChecklistItem, as_of: str) -> list[dict[str, Any]]:
    """The item's part of the row of a member with no row in its table (by
    administrator)."""
    absent, _ = state_table(item)
    count = 0 if item.counts else None
    return [
        {"item": item.id, "state": state, "count": count, "detail": item.detail(state, None, as_of)}
        for state in absent
    ]


def _parts(item: ChecklistItem, found: Sequence[Row], as_of: str) -> dict[tuple, dict[str, Any]]:
    """(group_id, user_id) -> the item's part of the row of a member with rows there.

    A part follows from the state and the facts alone (never from who the member is),
    and a large group has few distinct ones (1 of 1 location, 2 appointments and 3
    colleagues...): each is built once and shared, rows copy it."""
    _, present = state_table(item)
    shared: dict[tuple, dict[str, Any]] = {}
    parts: dict[tuple, dict[str, Any]] = {}
    for member in found:
        flag = member[FLAG]
        state = present[bool(flag)]
        same = (state, *member[FLAG:])
        part = shared.get(same)
        if part is None:
            part = shared[same] = {
                "item": item.id,
                "state": state,
                "count": int(flag) if item.counts else None,
                "detail": item.detail(state, member, as_of),
            }
        parts[(member[0], member[1])] = part
    return parts


def sort_key(row: Mapping[str, Any]) -> tuple:
    return (row["group"], row["status"] != "active", row["email"].lower(), row["group_id"])


def evaluate_members(
    conn: Connection, membership_ids: Iterable[int], *, at: datetime | None = None
) -> list[dict[str, Any]]:
    """The checklist rows of these memberships: one per item, in list order
    (group, active before inactive, email), items in ``ITEMS`` order."""
    at = at or now()
    ids = sorted(set(membership_ids))
    rows: list[dict[str, Any]] = []
    for chunk in chunks(ids):
        rows.extend(evaluate(conn, Scope(_m.membership_id.in_(chunk)), at))
    if len(ids) > facts.CHUNK:
        rows.sort(key=sort_key)  # stable: items keep their order within a member
    return rows


# --------------------------------------------------------------------------- selections


def _pair(member: Any) -> tuple[str, str]:
    if isinstance(member, Mapping):
        group = member.get("group_id") or member.get("group")
        return str(group or ""), str(member.get("email") or "")
    group, email = member
    return str(group), str(email)


def select_members(conn: Connection, members: Iterable[Any]) -> list[int]:
    """Membership ids of (group, email) pairs (or rows with ``group_id``/``email``),
    set-based; an unknown group, user or membership is bad input naming the first."""
    pairs = [_pair(member) for member in members]
    if not pairs:
        return []
    g = s.groups.c
    refs = sorted({group.strip() for group, _ in pairs})
    groups: dict[str, Row] = {}
    for chunk in chunks(refs):
        for row in conn.execute(
            select(s.groups).where(or_(g.group_id.in_(chunk), g.name.in_(chunk)))
        ):
            groups[row.group_id] = row
            groups[row.name] = row
    keys = sorted({email_key(email) for _, email in pairs})
    users: dict[str, Row] = {}
    for chunk in chunks(keys):
        for row in conn.execute(select(s.users).where(s.users.c.email_key.in_(chunk))):
            users[row.email_key] = row
    wanted: dict[tuple[str, str], tuple[Row, Row]] = {}
    for group, email in pairs:
        # not found: find_group and find_user raise with the usual message
        grp = groups.get(group.strip()) or find_group(conn, group)
        user = users.get(email_key(email)) or find_user(conn, email, option="--user")
        wanted[(grp.group_id, user.user_id)] = (grp, user)
    found: dict[tuple[str, str], int] = {}
    for chunk in chunks(list(wanted)):
        query = select(_m.group_id, _m.user_id, _m.membership_id).where(
            tuple_(_m.group_id, _m.user_id).in_(chunk)
        )
        for row in conn.execute(query):
            found[(row.group_id, row.user_id)] = row.membership_id
    for key, (grp, user) in wanted.items():
        if key not in found:
            raise UnknownMember(f"{user.email} is not a member of {grp.name}", column="--user")
    return [found[key] for key in wanted]


def scope_of(
    conn: Connection, *, group: str | None, user: str | None, members: Iterable[Any] | None
) -> Scope | list[int]:
    """What a public call is about: a scope over memberships, or membership ids."""
    if members is not None:
        return select_members(conn, members)
    grp = find_group(conn, group) if group is not None else None
    who = find_user(conn, user, option="--user") if user is not None else None
    if grp is not None and who is not None:
        return [find_member(conn, grp, who, option="--user").membership_id]
    if grp is not None:
        return Scope(_m.group_id == grp.group_id, group_id=grp.group_id)
    if who is not None:
        return Scope(_m.user_id == who.user_id)
    return Scope()


@collector_paused
def checklist(
    db: Database,
    *,
    group: str | None = None,
    user: str | None = None,
    members: Iterable[Any] | None = None,
) -> list[dict[str, Any]]:
    """The checklist rows of a group, a user (in every group, or in ``group``), a
    selection of (group, email) pairs, or of every group when nothing is named."""
    with db.read() as conn:
        scope = scope_of(conn, group=group, user=user, members=members)
        at = now()
        if isinstance(scope, list):
            return evaluate_members(conn, scope, at=at)
        return evaluate(conn, scope, at)


def checklist_groups(db: Database) -> list[dict[str, str]]:
    """Every group (``group_id``, ``name``) by name: what a checklist can be asked about."""
    with db.read() as conn:
        query = select(s.groups.c.group_id, s.groups.c.name).order_by(s.groups.c.name)
        return [{"group_id": r.group_id, "name": r.name} for r in conn.execute(query)]


def to_frame(rows: Iterable[Mapping[str, Any]]):
    """Checklist rows as a pandas DataFrame with the columns in contract order."""
    import pandas as pd

    return pd.DataFrame(list(rows), columns=CHECKLIST_COLUMNS)
