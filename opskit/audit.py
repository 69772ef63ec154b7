"""The audit trail: one append-only event per change (R10).

``record`` and ``record_many`` write inside the caller's transaction, so an event
commits or rolls back together with the change it describes. Nothing here updates
or deletes an event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, literal, select

from . import schema as s
from .clock import iso
from .db import Database, in_values
from .rules import find_group, find_user
from .schema import Action


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, default=str)


def event_row(
    *,
    at: datetime,
    actor_id: str,
    group_id: str,
    user_id: str,
    action: Action,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str | None = None,
    item: str | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    return {
        "at": at,
        "actor_id": actor_id,
        "group_id": group_id,
        "user_id": user_id,
        "action": Action(action).value,
        "item": item,
        "before": _json(before),
        "after": _json(after),
        "reason": reason,
        "run_id": run_id,
    }


def record(conn: Connection, **event: Any) -> None:
    """Write one audit event in the caller's transaction."""
    conn.execute(insert(s.audit_events), [event_row(**event)])


def record_many(conn: Connection, events: Iterable[Mapping[str, Any]]) -> int:
    """Write many prepared ``event_row`` dicts in one statement."""
    rows = list(events)
    if rows:
        conn.execute(insert(s.audit_events), rows)
    return len(rows)


def record_for_members(conn: Connection, membership_ids: Sequence[int], **event: Any) -> int:
    """Write the same event (``event_row`` arguments without ``group_id``/``user_id``)
    for every membership in ``membership_ids``: one ``INSERT ... SELECT`` however many,
    so a bulk change writes its events without a Python round per member."""
    if not membership_ids:
        return 0
    e = s.audit_events.c
    row = event_row(group_id="", user_id="", **event)
    del row["group_id"], row["user_id"]
    m = s.memberships.c
    conn.execute(
        insert(s.audit_events).from_select(
            [*row, "group_id", "user_id"],
            select(
                *(literal(value, e[name].type) for name, value in row.items()),
                m.group_id,
                m.user_id,
            ).where(in_values(conn, m.membership_id, membership_ids)),
        )
    )
    return len(membership_ids)


def audit_events(
    db: Database,
    *,
    group: str | None = None,
    user: str | None = None,
    run: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Audit events, oldest first, filtered by group, target member and/or run."""
    e = s.audit_events.c
    actor = s.users.alias("actor")
    target = s.users.alias("target")
    query = (
        select(
            e.event_id,
            e.at,
            actor.c.email.label("actor"),
            e.group_id,
            s.groups.c.name.label("group"),
            target.c.email.label("email"),
            e.action,
            e.item,
            e.before,
            e.after,
            e.reason,
            e.run_id.label("run"),
        )
        .select_from(s.audit_events)
        .outerjoin(actor, actor.c.user_id == e.actor_id)
        .outerjoin(target, target.c.user_id == e.user_id)
        .outerjoin(s.groups, s.groups.c.group_id == e.group_id)
        .order_by(e.event_id)
    )
    with db.read() as conn:
        if group is not None:
            query = query.where(e.group_id == find_group(conn, group).group_id)
        if user is not None:
            query = query.where(e.user_id == find_user(conn, user, option="--user").user_id)
        if run is not None:
            query = query.where(e.run_id == run)
        if limit is not None:
            query = query.limit(limit)
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row["at"] = iso(row["at"])
        row["before"] = json.loads(row["before"]) if row["before"] else None
        row["after"] = json.loads(row["after"]) if row["after"] else None
    return rows
