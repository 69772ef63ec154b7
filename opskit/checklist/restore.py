"""Putting back what checklist resolution switched off, from the unrestored snapshots.

A snapshot holds, per member and item, the rows resolution changed: each row's key,
label, values before and values as resolution set them. Restore puts a row back only
while it is still as resolution left it (R7: the settings the member had, never over
a change made since).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, insert, select, tuple_, update

from .. import schema as s
from ..audit import event_row, record_many
from ..schema import Action
from .changes import restore_texts
from .evaluate import evaluate_members, sort_key
from .facts import chunks
from .items import BY_ID, ITEMS, RESTORABLE, ChecklistItem, DeleteRow

_m = s.memberships.c
_snap = s.settings_snapshots.c

Entries = dict[int, dict[tuple, dict[str, Any]]]  # member -> row key -> snapshot entry
Outcome = dict[int, dict[str, list]]  # member -> {"restored": [...], "left": [...]}


def _snapshots_of(conn: Connection, chunk: Sequence[int]) -> list[Row]:
    return list(
        conn.execute(
            select(_m.membership_id, *s.settings_snapshots.c)
            .select_from(s.settings_snapshots)
            .join(
                s.memberships,
                and_(_m.group_id == _snap.group_id, _m.user_id == _snap.user_id),
            )
            .where(_m.membership_id.in_(chunk), _snap.restored_at.is_(None))
            .order_by(_snap.snapshot_id.desc())
            .with_for_update(of=s.settings_snapshots)
        ).all()
    )


def _key_filter(item: ChecklistItem, keys: Sequence[tuple]) -> ColumnElement[bool]:
    c = item.table.c
    if len(item.keys) == 1:
        return c[item.keys[0]].in_([k[0] for k in keys])
    return tuple_(*[c[n] for n in item.keys]).in_(keys)


def _current(conn: Connection, item: ChecklistItem, keys: list[tuple]) -> dict[tuple, dict]:
    found: dict[tuple, dict[str, Any]] = {}
    for chunk in chunks(keys, 2000):
        query = select(item.table).where(_key_filter(item, chunk)).with_for_update()
        for row in conn.execute(query):
            record = dict(row._mapping)
            found[tuple(record[k] for k in item.keys)] = record
    return found


def _reinsert(
    conn: Connection, item: ChecklistItem, entries: Entries, members: dict[int, tuple[str, str]]
) -> Outcome:
    """Put deleted rows back: each member's newest one (a member has at most one),
    unless the member has such a row again."""
    assert isinstance(item.resolution, DeleteRow)
    c = item.table.c
    member = (c.group_id, c[item.member_column])
    outcome: Outcome = {mid: {"restored": [], "left": []} for mid in entries}
    has_row = {
        (r[0], r[1])
        for chunk in chunks(list(members.values()), 2000)
        for r in conn.execute(select(*member).where(tuple_(*member).in_(chunk)))
    }
    inserts = []
    for mid, rows in entries.items():
        # each resolution deleted a different row: only the newest counts
        for entry in list(rows.values())[:1]:
            if members[mid] in has_row:
                outcome[mid]["left"].append((entry, item.resolution.conflict))
            else:
                group_id, user_id = members[mid]
                inserts.append(
                    {
                        "group_id": group_id,
                        item.member_column: user_id,
                        **{k: entry["before"][k] for k in item.snapshotted},
                    }
                )
                outcome[mid]["restored"].append(entry)
                has_row.add(members[mid])
    if inserts:
        conn.execute(insert(item.table), inserts)
    return outcome


def _set_back(conn: Connection, item: ChecklistItem, entries: Entries) -> Outcome:
    """Set changed rows back to their values before, where they are still as set."""
    outcome: Outcome = {mid: {"restored": [], "left": []} for mid in entries}
    keys = [key for rows in entries.values() for key in rows]
    current = _current(conn, item, keys)
    by_values: dict[tuple, list[tuple]] = defaultdict(list)
    for mid, rows in entries.items():
        for key, entry in rows.items():
            now_row = current.get(key)
            if now_row is None:
                outcome[mid]["left"].append((entry, "it no longer exists"))
            elif any(now_row[k] != v for k, v in entry["after"].items()):
                outcome[mid]["left"].append((entry, "it was changed since"))
            else:
                by_values[tuple(sorted(entry["before"].items()))].append(key)
                outcome[mid]["restored"].append(entry)
    # one conditional UPDATE per distinct set of old values, never one per row
    resolved_to = item.resolved_to or {}
    c = item.table.c
    for values, value_keys in by_values.items():
        for chunk in chunks(value_keys, 2000):
            conn.execute(
                update(item.table)
                .where(_key_filter(item, chunk), *[c[k] == v for k, v in resolved_to.items()])
                .values(**dict(values))
            )
    return outcome


def restore_settings(
    conn: Connection,
    membership_ids: Iterable[int],
    *,
    actor_id: str,
    at: datetime,
    run_id: str | None = None,
) -> list[dict[str, Any]]:
    """Put back what checklist resolution switched off, from the unrestored snapshots.

    Changes the settings of every member in ``membership_ids`` in the caller's
    transaction. Where several unrestored snapshots cover the same row, the newest
    wins. A row whose current value is no longer what resolution set (someone changed
    it since, or it is gone) is left alone and the returned row says so. Every
    snapshot read is marked restored; one ``settings_restored`` event is written per
    member per item that had something put back. Returns one row per member and
    snapshotted item: ``outcome`` is ``restored``, ``partly_restored`` or
    ``left_alone``, and ``state`` the item's checklist state afterwards.
    """
    ids = sorted(set(membership_ids))
    results: list[dict[str, Any]] = []
    for chunk in chunks(ids):
        snapshots = _snapshots_of(conn, chunk)
        if not snapshots:
            continue
        members = {r.membership_id: (r.group_id, r.user_id) for r in snapshots}
        # item -> member -> row key -> newest snapshot entry for that row
        entries: dict[str, Entries] = defaultdict(lambda: defaultdict(dict))
        for snap in snapshots:  # newest first
            keys = BY_ID[snap.item].keys
            for entry in json.loads(snap.data)["rows"]:
                key = tuple(entry["key"][k] for k in keys)
                entries[snap.item][snap.membership_id].setdefault(key, entry)
        events: list[dict[str, Any]] = []
        done: list[dict[str, Any]] = []
        for item in (BY_ID[item_id] for item_id in RESTORABLE if item_id in entries):
            if isinstance(item.resolution, DeleteRow):
                outcome = _reinsert(conn, item, entries[item.id], members)
            else:
                outcome = _set_back(conn, item, entries[item.id])
            for mid, what in outcome.items():
                group_id, user_id = members[mid]
                before, after, detail = restore_texts(item, what["restored"], what["left"])
                if what["restored"]:
                    events.append(
                        event_row(
                            at=at,
                            actor_id=actor_id,
                            group_id=group_id,
                            user_id=user_id,
                            action=Action.SETTINGS_RESTORED,
                            item=item.id,
                            before=before,
                            after=after,
                            run_id=run_id,
                        )
                    )
                done.append(
                    {
                        "membership_id": mid,
                        "item": item.id,
                        "outcome": (
                            ("partly_restored" if what["left"] else "restored")
                            if what["restored"]
                            else "left_alone"
                        ),
                        "restored": len(what["restored"]),
                        "left_alone": len(what["left"]),
                        "detail": detail,
                    }
                )
        snapshot_ids = [snap.snapshot_id for snap in snapshots]
        for id_chunk in chunks(snapshot_ids):
            conn.execute(
                update(s.settings_snapshots)
                .where(_snap.snapshot_id.in_(id_chunk))
                .values(restored_at=at)
            )
        record_many(conn, events)
        evaluated = {
            (r["membership_id"], r["item"]): r
            for r in evaluate_members(conn, {d["membership_id"] for d in done}, at=at)
        }
        for change in done:
            row = dict(evaluated[(change["membership_id"], change["item"])])
            row.update(change)
            results.append(row)
    results.sort(key=lambda r: (*sort_key(r), ITEMS.index(r["item"])))
    return results


def restore_member_settings(
    conn: Connection, member_row: Row, *, actor_id: str, at: datetime
) -> list[dict[str, Any]]:
    """``restore_settings`` for the one member being reactivated."""
    return restore_settings(conn, [member_row.membership_id], actor_id=actor_id, at=at)
