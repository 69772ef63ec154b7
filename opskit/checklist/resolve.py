"""Resolving checklist items: snapshot, audit and change, set-based per item.

Resolution snapshots the rows it is about to change into ``settings_snapshots`` (how
they were and what resolution set), then changes exactly those rows, and writes one
``checklist_resolved`` event per member per resolved item, all in the caller's
transaction. An item whose resolution grants (``data_export``) inserts the permission
and writes ``export_granted``; it is not snapshotted, so a restore keeps it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    FromClause,
    Row,
    and_,
    delete,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)

from .. import schema as s
from ..audit import event_row, record_many, record_selected
from ..clock import now
from ..db import Database, members_table
from ..errors import BadInput
from ..identity import acting_user
from ..rules import find_group, lock_groups, require_manager
from ..sqljson import SqlJson
from .changes import change_texts, event_texts_sql, snapshot_entry_sql
from .evaluate import evaluate_members, scope_of
from .facts import chunks, of_member
from .items import BY_ID, ITEMS, RESOLVABLE, RESOLVE_CHOICES, ChecklistItem, GrantRow

_m = s.memberships.c

_EVENT_COLUMNS = [
    *("at", "actor_id", "group_id", "user_id", "action", "item", "before", "after", "run_id")
]


def parse_items(items: str | Iterable[str]) -> list[str]:
    """Item ids to resolve; ``all`` is every resolvable item (never an optional one)."""
    if isinstance(items, str):
        items = items.split(",")
    allowed = [*RESOLVE_CHOICES, "all"]
    wanted: list[str] = []
    for raw in items:
        item = raw.strip().lower()
        if item == "all":
            wanted.extend(RESOLVABLE)
        elif item in BY_ID and BY_ID[item].resolution is None:
            spec = BY_ID[item]
            raise BadInput(
                f"{item} is {spec.kind.id}: {spec.never_resolved}; "
                f"resolve one of {', '.join(allowed)}",
                column="--resolve",
            )
        elif item in allowed:
            wanted.append(item)
        else:
            raise BadInput(
                f"{raw.strip()!r} is not a checklist item to resolve; "
                f"choose one of {', '.join(allowed)}",
                column="--resolve",
            )
    if not wanted:
        raise BadInput(f"say which item to resolve: {', '.join(allowed)}", column="--resolve")
    return [item for item in ITEMS if item in wanted]


def _pending_of(conn: Connection, item: ChecklistItem, members: FromClause) -> list[dict]:
    """The rows of ``item`` that still need action for these memberships, row-locked."""
    table = item.table
    assert item.pending is not None
    wanted = {*item.keys, *item.snapshotted, "group_id", "user_id"}
    columns = {c.name for c in table.c} & wanted
    query = (
        select(members.c.membership_id, *[table.c[name] for name in sorted(columns)])
        .select_from(table)
        .join(members, of_member(item, members))
        .where(item.pending(table.c))
        .order_by(*[table.c[k] for k in item.keys])
        .with_for_update(of=table)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def _reported(conn: Connection, item: ChecklistItem, members: FromClause) -> list[dict]:
    """One row per member with pending rows: what resolving will change, and its texts."""
    assert item.resolution is not None
    action = item.resolution.action.value
    by_member: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in _pending_of(conn, item, members):
        by_member[row["membership_id"]].append(row)
    resolved = []
    for membership_id, member_rows in by_member.items():
        before, after, detail = change_texts(item, member_rows)
        resolved.append(
            {
                "membership_id": membership_id,
                "group_id": member_rows[0]["group_id"],
                "user_id": member_rows[0]["user_id"],
                "item": item.id,
                "action": action,
                "before": before,
                "after": after,
                "detail": detail,
            }
        )
    return resolved


def _resolve_item(
    conn: Connection,
    item: ChecklistItem,
    members: FromClause,
    *,
    actor_id: str,
    at: datetime,
    run_id: str | None,
    report: bool = True,
) -> list[dict[str, Any]]:
    """Snapshot, audit and change one item's pending rows for the ``members``:
    three set-based statements (the JSON is built by the database), in the caller's
    transaction. With ``report`` the rows are read first to describe each change."""
    table = item.table
    x = table.c
    assert item.pending is not None and item.resolution is not None
    of_members = select(members.c.group_id, members.c.user_id)
    pending = and_(tuple_(x.group_id, x.user_id).in_(of_members), item.pending(x))
    resolved: list[dict[str, Any]] = []
    if report:
        resolved = _reported(conn, item, members)
        if not resolved:
            return []
    elif conn.dialect.name == "postgresql":
        # row-lock what is about to be snapshotted, as _pending_of does (SQLite's
        # writer already holds the database write lock)
        locked = select(x.group_id).where(pending).with_for_update()
        conn.execute(select(func.count()).select_from(locked.subquery()))
    j = SqlJson(conn.dialect.name)
    ordered = [x[k] for k in item.keys]
    per_member = (x.group_id, x.user_id)
    snap = s.settings_snapshots.c
    conn.execute(
        insert(s.settings_snapshots).from_select(
            ["group_id", "user_id", "item", "taken_at", "data", "run_id"],
            select(
                *per_member,
                literal(item.id, snap.item.type),
                literal(at, snap.taken_at.type),
                j.text(j.obj(rows=j.agg(snapshot_entry_sql(j, item, x), *ordered))),
                literal(run_id, snap.run_id.type),
            )
            .where(pending)
            .group_by(*per_member),
        )
    )
    before, after = event_texts_sql(j, item, x)
    e = s.audit_events.c
    event_values = (
        literal(at, e.at.type),
        literal(actor_id, e.actor_id.type),
        *per_member,
        literal(item.resolution.action.value, e.action.type),
        literal(item.id, e.item.type),
        before,
        after,
        literal(run_id, e.run_id.type),
    )
    record_selected(
        conn,
        select(
            *(value.label(name) for value, name in zip(event_values, _EVENT_COLUMNS, strict=True))
        )
        .where(pending)
        .group_by(*per_member),
    )
    resolved_to = item.resolved_to
    if resolved_to is None:
        conn.execute(delete(table).where(pending))
    else:
        conn.execute(update(table).where(pending).values(**resolved_to))
    return resolved


def _grant(
    conn: Connection,
    item: ChecklistItem,
    chunk: Sequence[int],
    *,
    actor_id: str,
    at: datetime,
    run_id: str | None,
) -> list[dict[str, Any]]:
    """Insert ``item``'s row for the members of ``chunk`` who have none, with an event each."""
    grant = item.resolution
    assert isinstance(grant, GrantRow) and item.resolved_text is not None
    has_row = select(literal(1)).select_from(item.table).where(of_member(item, s.memberships))
    members = conn.execute(
        select(_m.membership_id, _m.group_id, _m.user_id)
        .where(_m.membership_id.in_(chunk), ~has_row.exists())
        .order_by(_m.membership_id)
    ).all()
    if not members:
        return []
    conn.execute(
        insert(item.table),
        [{"group_id": r.group_id, item.member_column: r.user_id, grant.stamp: at} for r in members],
    )
    before, after, detail = change_texts(item, [])
    record_many(
        conn,
        [
            event_row(
                at=at,
                actor_id=actor_id,
                group_id=r.group_id,
                user_id=r.user_id,
                action=grant.action,
                item=item.id,
                before=before,
                after=after,
                run_id=run_id,
            )
            for r in members
        ],
    )
    return [
        {
            "membership_id": r.membership_id,
            "group_id": r.group_id,
            "user_id": r.user_id,
            "item": item.id,
            "action": grant.action.value,
            "before": before,
            "after": after,
            "detail": detail,
        }
        for r in members
    ]


def resolve_items(
    conn: Connection,
    membership_ids: Iterable[int],
    items: str | Iterable[str],
    *,
    actor_id: str,
    at: datetime,
    run_id: str | None = None,
    report: bool = True,
) -> list[dict[str, Any]]:
    """Resolve the open ``items`` (ids or ``all``) of many members at once.

    Dangerous in the way every bulk write is: it changes the settings of every member
    in ``membership_ids`` in a handful of statements per item, inside the caller's
    transaction (it never commits and checks no rule; the caller has checked R1 and
    holds the group locks). For each item: row-lock the rows still pending, snapshot
    them, write one audit event per member, change exactly those rows, each step one
    ``INSERT ... SELECT`` or ``UPDATE`` with the JSON built in SQL. An item that is
    already ok writes nothing. Returns one row per member and resolved item with the
    audit ``before``/``after`` and a ``detail``; with ``report=False`` (bulk
    offboarding, which knows what was pending) nothing is read back and it returns [].
    """
    wanted = [BY_ID[item] for item in parse_items(items)]
    ids = sorted(set(membership_ids))
    resolved: list[dict[str, Any]] = []
    if not ids:
        return resolved
    with members_table(conn, ids) as members:
        for item in wanted:
            if isinstance(item.resolution, GrantRow):
                for chunk in chunks(ids):
                    resolved.extend(
                        _grant(conn, item, chunk, actor_id=actor_id, at=at, run_id=run_id)
                    )
            else:
                resolved.extend(
                    _resolve_item(
                        conn, item, members, actor_id=actor_id, at=at, run_id=run_id, report=report
                    )
                )
    return resolved


def _mark(rows: list[dict[str, Any]], done: list[dict[str, Any]], key: str) -> list[dict]:
    """Flag the checklist rows that a resolve or restore just changed, with its detail."""
    by_key = {(d["membership_id"], d["item"]): d for d in done}
    for row in rows:
        change = by_key.get((row["membership_id"], row["item"]))
        row[key] = change is not None
        if change is not None:
            row["detail"] = change["detail"]
    return rows


class _RollBack(Exception):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows


def _authorise(conn: Connection, grp: Row, who: Row, user_ids: set[str]) -> None:
    """R1 for someone else; a member may resolve their own items while they may act."""
    if user_ids == {who.user_id}:
        own = conn.execute(
            select(_m.status, _m.read_only).where(
                _m.group_id == grp.group_id, _m.user_id == who.user_id
            )
        ).first()
        if own is not None and own.status == "active" and not own.read_only:
            return
    require_manager(conn, grp, who, doing="resolve checklist items")


def resolve_checklist(
    db: Database,
    *,
    group: str | None,
    item: str | Iterable[str],
    actor: str | None = None,
    user: str | None = None,
    members: Iterable[Any] | None = None,
    dry_run: bool = False,
) -> list[dict[str, Any]]:
    """Resolve ``item`` (an id, a list of ids, or ``all``) for ``user`` in ``group``, or
    for a selection of (group, email) ``members``; R1 in every group involved.

    Returns the checklist rows of those members afterwards; ``resolved`` marks the rows
    this call changed. ``dry_run`` does all of it and rolls back.
    """
    items = parse_items(item)
    if members is None and user is None:
        raise BadInput("say whose checklist to resolve: a user or a selection", column="--user")
    if members is None and group is None:
        raise BadInput("say in which group to resolve the checklist", column="--group")
    try:
        with db.begin() as conn:
            who = acting_user(conn, actor)
            ids = scope_of(conn, group=group, user=user, members=members)
            assert isinstance(ids, list)  # a user in a group, or a selection
            user_ids: dict[str, set[str]] = defaultdict(set)
            for chunk in chunks(ids):
                query = select(_m.group_id, _m.user_id).where(_m.membership_id.in_(chunk))
                for target in conn.execute(query):
                    user_ids[target.group_id].add(target.user_id)
            lock_groups(conn, user_ids)
            for group_id in sorted(user_ids):
                _authorise(conn, find_group(conn, group_id), who, user_ids[group_id])
            at = now()
            done = resolve_items(conn, ids, items, actor_id=who.user_id, at=at)
            rows = _mark(evaluate_members(conn, ids, at=at), done, "resolved")
            if dry_run:
                for row in rows:
                    row["dry_run"] = True
                raise _RollBack(rows)
            return rows
    except _RollBack as rolled_back:
        return rolled_back.rows


def resolve_for_deactivation(
    conn: Connection, member_row: Row, *, actor_id: str, at: datetime
) -> list[dict[str, Any]]:
    """Resolve every open resolvable item of a member about to be deactivated.

    Called inside the deactivation's transaction just before the status change, so
    the rows returned describe the member as deactivated (``status`` inactive).
    """
    ids = [member_row.membership_id]
    done = resolve_items(conn, ids, "all", actor_id=actor_id, at=at)
    rows = _mark(evaluate_members(conn, ids, at=at), done, "resolved")
    for row in rows:
        row["status"] = "inactive"
    return rows
