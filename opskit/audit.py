"""The audit trail: one append-only event per change (R10), in a hash chain.

``record``, ``record_many``, ``record_for_members`` and ``record_selected`` write inside
the caller's transaction, so an event commits or rolls back together with the change
it describes. Nothing here updates or deletes an event.

Every write goes through ``_append``: it locks the chain's head (the one row of
``audit_chain``), gives each event the ``login`` of whoever runs opskit and a
``hash`` = sha256(previous hash, the event's content), inserts the batch in one
statement and moves the head to the batch's last event. Concurrent writers queue on
the head's lock, so the chain never forks; ``verify_chain`` walks it again.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, delete, func, insert, select, update

from . import schema as s
from .clock import iso
from .db import Database, in_values, insert_tuples, stored_time
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


# What an event's hash covers, in this order, after the previous event's hash.
CHAINED = (
    "at",
    "actor_id",
    "group_id",
    "user_id",
    "action",
    "item",
    "before",
    "after",
    "reason",
    "run_id",
    "login",
)


# What a writer hands ``_append``: an event as a tuple in this order (``CHAINED``
# without ``login``, which ``_append`` adds).
EVENT_COLUMNS = CHAINED[:-1]
_AS_EVENT = operator.itemgetter(*EVENT_COLUMNS)


@functools.lru_cache(maxsize=1024)  # a batch shares one time: formatted once
def _canonical_time(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):  # raw SQL on SQLite reads times as text
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _field(value: Any) -> str:
    """One field, length-prefixed (``-`` for null): no two contents encode alike."""
    if value is None:
        return "-"
    text = value if isinstance(value, str) else str(value)
    return f"{len(text)}:{text}"


def _link(previous: str, at: Any, fields: Sequence[Any]) -> str:
    """The hash of one event: sha256 over the previous event's hash, the event's time
    and its other ``CHAINED`` fields (``fields``, in that order), each length-prefixed
    and joined by ``|``. The one encoding of an event, for writing and verifying:
    one string and one hashlib call per event."""
    text = "|".join([previous, _field(_canonical_time(at)), *map(_field, fields)])
    return hashlib.sha256(text.encode()).hexdigest()


def chain_hash(previous: str, event: Mapping[Any, Any]) -> str:
    """sha256 over the previous event's hash and this event's content (``CHAINED``)."""
    get = event.get
    return _link(previous, get("at"), [get(name) for name in CHAINED[1:]])


def _lock_head(conn: Connection) -> tuple[int, str]:
    """The chain's head (last event id, its hash), locked until the transaction ends.
    SQLite's writer already holds the database lock (BEGIN IMMEDIATE); PostgreSQL
    locks the row, creating it first (ON CONFLICT: a concurrent creator wins, we wait)."""
    c = s.audit_chain.c
    query = select(c.last_event_id, c.hash).where(c.chain_id == 1).with_for_update()
    head = conn.execute(query).first()
    if head is None:
        from sqlalchemy.dialects import postgresql, sqlite

        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(
            dialect.insert(s.audit_chain)
            .values(chain_id=1, last_event_id=0, hash="")
            .on_conflict_do_nothing()
        )
        head = conn.execute(query).one()
    return int(head.last_event_id), head.hash


def _encoded(values: Sequence[Any], encode: Any = None) -> tuple[str, list[Sequence[Any]]]:
    """One ``CHAINED`` column of a batch as ``_field`` texts (``encode``: another
    encoder, its distinct values encoded once), as a piece of a format string and its
    arguments: the one text when every event has the same value (a batch's time,
    actor, action, run...), a column of text as its lengths and itself, else a text
    per event."""
    first = values[0]
    if values.count(first) == len(values):
        text = (encode or _field)(first)
        return "|" + text.replace("{", "{{").replace("}", "}}"), []
    if encode is None:
        if set(map(type, values)) == {str}:  # text, the common case
            return "|{}:{}", [list(map(len, values)), values]
        return "|{}", [[_field(v) for v in values]]  # nulls or numbers among them
    texts = {value: encode(value) for value in set(values)}
    return "|{}", [list(map(texts.__getitem__, values))]


def _time_field(value: Any) -> str:
    return _field(_canonical_time(value))


def _chain(previous: str, columns: Sequence[Sequence[Any]]) -> list[str]:
    """The hashes of a batch of events given a ``CHAINED`` column at a time, chained
    on from ``previous``: exactly ``_link`` of each event in turn, but the encoding of
    the columns is done a column at a time (the columns constant in a batch once) and
    one format call puts each event's text after ``|``; what is left per event is the
    one sha256 over the previous hash and that text."""
    pieces, arguments = [], []
    for i, values in enumerate(columns):
        piece, args = _encoded(values, _time_field if i == 0 else None)
        pieces.append(piece)
        arguments.extend(args)
    template = "".join(pieces)
    if arguments:
        rests: Iterable[str] = map(template.format, *arguments)
    else:
        rests = itertools.repeat(template.format(), len(columns[0]))
    sha256 = hashlib.sha256
    hashes: list[str] = []
    append = hashes.append
    for rest in rests:
        previous = sha256((previous + rest).encode()).hexdigest()
        append(previous)
    return hashes


def _append(conn: Connection, events: Sequence[Sequence[Any]]) -> int:
    """Chain and insert events (tuples in ``EVENT_COLUMNS`` order), then move the head."""
    if not events:
        return 0
    return _append_columns(conn, list(zip(*events, strict=True)))


def _append_columns(conn: Connection, columns: Sequence[Sequence[Any]]) -> int:
    """Chain and insert events given a column at a time (``EVENT_COLUMNS`` order, each
    column as long as the batch), then move the head.

    The rows go to the driver as tuples (``insert_tuples``), the time, the one typed
    value, stored as SQLAlchemy stores it (``stored_time``)."""
    count = len(columns[0])
    if not count:
        return 0
    from .identity import current_login

    login = current_login(conn).login
    _, previous = _lock_head(conn)
    postgres = conn.dialect.name == "postgresql"
    store = stored_time(conn.dialect)
    logins = [login] * count
    hashes = _chain(previous, [*columns, logins])
    if postgres:
        # the column's default (session_user) writes the login, which a granted role
        # may not write itself
        _insert_arrays(conn, [*EVENT_COLUMNS, "hash"], [*columns, hashes])
    else:
        stored = [map(store, columns[0]), *columns[1:]]
        rows = list(zip(*stored, logins, hashes, strict=True))
        insert_tuples(conn, s.audit_events.name, [*EVENT_COLUMNS, "login", "hash"], rows)
    # under the head's lock no other writer appends, so the newest event is ours
    last = conn.execute(select(func.max(s.audit_events.c.event_id))).scalar_one()
    conn.execute(
        update(s.audit_chain)
        .where(s.audit_chain.c.chain_id == 1)
        .values(last_event_id=last, hash=hashes[-1])
    )
    return count


def _insert_arrays(
    conn: Connection, names: Sequence[str], columns: Sequence[Sequence[Any]]
) -> None:
    """PostgreSQL: insert the events as one statement, a column a parameter (an
    array each, ``unnest`` back into rows in their order, so the event ids follow the
    chain): an ``executemany`` of tens of thousands of events is a statement each for
    the server."""
    table = s.audit_events
    dialect = conn.dialect
    arrays = ", ".join(f"%s::{table.c[name].type.compile(dialect=dialect)}[]" for name in names)
    listed = ", ".join(names)
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({listed}) SELECT {listed} FROM unnest({arrays}) "
        f"WITH ORDINALITY AS events({listed}, position) ORDER BY position",
        (*map(list, columns),),
    )


def adopt_loaded_chain(conn: Connection) -> None:
    """A dataset load brings the events with their hashes: the chain's head becomes the
    last event loaded, so the next event chains on from it (and ``verify`` still names a
    loaded event that does not follow from the one before it)."""
    e = s.audit_events.c
    last = conn.execute(select(e.event_id, e.hash).order_by(e.event_id.desc()).limit(1)).first()
    conn.execute(delete(s.audit_chain))
    if last is not None:
        conn.execute(
            insert(s.audit_chain).values(
                chain_id=1, last_event_id=last.event_id, hash=last.hash or ""
            )
        )


def record(conn: Connection, **event: Any) -> None:
    """Write one audit event in the caller's transaction."""
    _append(conn, [_AS_EVENT(event_row(**event))])


def record_many(conn: Connection, events: Iterable[Mapping[str, Any]]) -> int:
    """Write many prepared ``event_row`` dicts in one statement."""
    return _append(conn, [tuple(map(row.get, EVENT_COLUMNS)) for row in events])


def record_selected(conn: Connection, query: Select) -> int:
    """Write the events a query selects (its columns named as ``event_row``'s keys; a
    missing ``reason`` is null), one statement to read them and one to write them,
    chained in between."""
    result = conn.execute(query)
    keys = list(result.keys())
    read = list(zip(*result.all(), strict=True))
    if not read:
        return 0
    absent = [None] * len(read[0])
    return _append_columns(
        conn, [read[keys.index(name)] if name in keys else absent for name in EVENT_COLUMNS]
    )


def record_for_members(conn: Connection, membership_ids: Sequence[int], **event: Any) -> int:
    """Write the same event (``event_row`` arguments without ``group_id``/``user_id``)
    for every membership in ``membership_ids``, in membership order: one statement
    reads the members and one writes the events, however many, so a bulk change
    writes its events without a round trip per member."""
    if not membership_ids:
        return 0
    m = s.memberships.c
    members = conn.execute(
        select(m.group_id, m.user_id)
        .where(in_values(conn, m.membership_id, membership_ids))
        .order_by(m.membership_id)
    ).all()
    return record_for_each(conn, members, **event)


def record_for_each(conn: Connection, members: Sequence[Sequence[str]], **event: Any) -> int:
    """Write the same event (``event_row`` arguments without ``group_id``/``user_id``)
    for each ``(group_id, user_id)`` of ``members``, in that order: for a caller that
    has read the members already (a bulk run's locked read)."""
    if not members:
        return 0
    values = _AS_EVENT(event_row(group_id="", user_id="", **event))
    count = len(members)
    groups, users = zip(*members, strict=True)
    columns: list[Sequence[Any]] = [[value] * count for value in values]
    columns[2:4] = [groups, users]
    return _append_columns(conn, columns)


VERIFY_CHUNK = 20_000


def verify_chain(db: Database) -> dict[str, Any]:
    """Walk the hash chain oldest first. Returns ``intact``, ``events`` (how many were
    checked), ``event`` (the id of the first event where the chain breaks, else None)
    and ``message``. The head and the events are read in one snapshot, so an event
    beyond the head was not appended by opskit."""
    with db.read() as conn:
        if conn.dialect.name == "postgresql":  # the head and the events in one snapshot
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return walk_chain(conn)


def walk_chain(conn: Connection) -> dict[str, Any]:
    """``verify_chain`` on an open connection (``opskit check`` reads in one)."""
    e = s.audit_events.c
    c = s.audit_chain.c
    columns = [e.event_id, e.hash, *(e[name] for name in CHAINED)]
    head = conn.execute(select(c.last_event_id, c.hash).where(c.chain_id == 1)).first()
    previous, checked, after, head_seen = "", 0, 0, False
    while True:
        chunk = conn.execute(
            select(*columns).where(e.event_id > after).order_by(e.event_id).limit(VERIFY_CHUNK)
        ).all()
        for event in chunk:
            if event.hash is None:
                return _broken(
                    checked, event.event_id, "has no hash: it was written outside opskit"
                )
            if chain_hash(previous, event._mapping) != event.hash:
                return _broken(
                    checked,
                    event.event_id,
                    "does not follow from the event before it: it was altered, or an "
                    "event before it was deleted, inserted or moved",
                )
            if head is None or event.event_id > head.last_event_id:
                return _broken(
                    checked, event.event_id, "lies beyond the chain's head: it was inserted"
                )
            previous = event.hash
            checked += 1
            if head is not None and event.event_id == head.last_event_id:
                head_seen = True
                if event.hash != head.hash:
                    return _broken(checked, event.event_id, "is not the chain's recorded head")
        if len(chunk) < VERIFY_CHUNK:
            break
        after = chunk[-1].event_id
    if head is not None and head.last_event_id and not head_seen:
        return _broken(
            checked,
            head.last_event_id,
            "is missing: the chain's head names it, so it (or the events up to it) was deleted",
        )
    return {
        "intact": True,
        "events": checked,
        "event": None,
        "message": f"{checked} events, chain intact",
    }


def _broken(checked: int, event_id: int | None, what: str) -> dict[str, Any]:
    where = f"audit chain broken at event {event_id}: it {what}" if event_id else what
    return {"intact": False, "events": checked, "event": event_id, "message": where}


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
            e.login,
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
