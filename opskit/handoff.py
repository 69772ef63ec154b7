"""Hand-off: a leaver's future appointments go to a colleague, or are cancelled.

The rule, once (docs/rules.md, "Hand-off"), in a set-based form that a single
deactivation calls with one leaver and a bulk batch with many:

- only the leaver's *booked* appointments in that group starting after now move; past
  ones, other groups' ones and patient records are never touched;
- an eligible successor is an active, non-read-only practitioner of the group at
  ``clinical`` or ``full`` who is not leaving in the same change (``successor_lack``);
- no double-booking: a successor with a booked appointment starting at the same time
  (in any group: it is one person's diary) cannot take it, and neither can one who took
  another appointment at that time earlier in the same proposal;
- ``auto`` gives each appointment, in time order, to the eligible successor with the
  fewest future appointments (counting what the proposal already gave them), ties by
  email; ``cancel`` cancels; an email names the one successor;
- all or nothing: an appointment that cannot be placed refuses the change
  (``NoSuccessor``), naming it.

``propose`` reads and decides (it writes nothing); ``apply_moves`` writes the moves
inside the caller's transaction with one audit event per appointment
(``appointment_reassigned`` / ``appointment_cancelled``), then checks in SQL that no
successor ended up booked twice at one time.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    func,
    insert,
    literal,
    select,
    update,
)

from . import schema as s
from .audit import record_selected
from .clock import iso
from .db import in_values, insert_tuples, stored_time
from .errors import BadInput, Refused
from .rules import email_key
from .schema import Action
from .spreadsheet import write_csv
from .sqljson import SqlJson

AUTO = "auto"
CANCEL = "cancel"
SUCCESSOR_LEVELS = ("clinical", s.FULL)
MOVE_COLUMNS = ["appointment_id", "starts_at", "outcome", "to"]

_a = s.appointments.c
_m = s.memberships.c
_u = s.users.c


class NoSuccessor(Refused):
    """An appointment of the hand-off cannot be placed: the whole change is refused."""


def normalise_handoff(
    value: Any, *, file: str | None = None, line: int | None = None, column: str = "--handoff"
) -> str | None:
    """``auto``, ``cancel``, a successor's email (R11: trimmed, case-insensitive), or
    None (no hand-off: the appointments stay as they are)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(
            f"{value!r} is not a hand-off (auto, cancel or an email)",
            file=file,
            line=line,
            column=column,
        )
    text = value.strip()
    if not text:
        return None
    if text.lower() in (AUTO, CANCEL):
        return text.lower()
    if "@" not in text or any(c.isspace() for c in text) or len(text) > 320:
        raise BadInput(
            f"{text!r} is not a hand-off (auto, cancel or a successor's email)",
            file=file,
            line=line,
            column=column,
        )
    return email_key(text)


@dataclass(frozen=True, slots=True)
class Leaver:
    group_id: str
    user_id: str
    handoff: str  # auto, cancel or a successor's email key


@dataclass(slots=True)
class Move:
    """One appointment of a leaver and what the hand-off does with it."""

    appointment_id: str
    group_id: str
    from_user_id: str
    patient_id: str
    starts_at: datetime
    outcome: str | None = None  # reassigned, cancelled; None: cannot be placed
    to_user_id: str | None = None
    to: str | None = None  # the successor's email

    def to_dict(self) -> dict[str, Any]:
        return {
            "appointment_id": self.appointment_id,
            "starts_at": iso(self.starts_at),
            "outcome": self.outcome,
            "to": self.to,
        }

    def for_front_desk(self) -> dict[str, Any]:
        return {**self.to_dict(), "group_id": self.group_id, "patient_id": self.patient_id}


@dataclass
class Proposal:
    """What the hand-off does with one leaver's appointments."""

    leaver: Leaver
    moves: list[Move] = field(default_factory=list)
    problem: str | None = None  # why it cannot be done (None: every move placed)

    @property
    def placed(self) -> bool:
        return self.problem is None


def listed(conn: Connection, data: Iterable[Sequence[Any]], columns: Sequence[tuple[str, Any]]):
    """``data`` (rows of ids, texts and times) as a subquery with ``columns`` (name, type),
    sent as one JSON parameter: joined to an indexed table it is one index lookup per
    row, where ``tuple_(...).in_(...)`` makes SQLite scan the whole index per statement
    and SQLAlchemy render a parameter per value. Times go as each dialect stores them."""
    dialect = conn.dialect
    stored = DateTime().dialect_impl(dialect).bind_processor(dialect) or datetime.isoformat
    times = [i for i, (_, type_) in enumerate(columns) if isinstance(type_, DateTime)]
    rows = [list(row) for row in data]
    for row in rows:
        for i in times:
            row[i] = stored(row[i])
    return SqlJson(dialect.name).rows(rows, columns).subquery()


_MEMBER = [("group_id", _a.group_id.type), ("user_id", _a.practitioner_id.type)]
_SLOT = [("user_id", _a.practitioner_id.type), ("starts_at", _a.starts_at.type)]


def future_appointments(
    conn: Connection, members: Iterable[tuple[Any, Any]], after: datetime
) -> dict[tuple[Any, Any], list[Move]]:
    """The booked appointments after ``after`` of each (group_id, user_id), in time order."""
    found: dict[tuple[str, str], list[Move]] = defaultdict(list)
    members = sorted(set(members))
    if not members:
        return found
    wanted = listed(conn, members, _MEMBER)
    query = (
        select(_a.appointment_id, _a.group_id, _a.practitioner_id, _a.patient_id, _a.starts_at)
        .select_from(
            wanted.join(
                s.appointments,
                and_(_a.group_id == wanted.c.group_id, _a.practitioner_id == wanted.c.user_id),
            )
        )
        .where(_a.status == "booked", _a.starts_at > after)
        .order_by(_a.group_id, _a.practitioner_id, _a.starts_at, _a.appointment_id)
    )
    for row in conn.execute(query):
        found[(row.group_id, row.practitioner_id)].append(Move(*row))
    return found


def successor_lack(member: Any | None) -> str | None:
    """Why a member cannot take a leaver's appointments (None: eligible)."""
    if member is None:
        return "is not a member of the group"
    if member.status != "active":
        return "is inactive there"
    if member.role != "practitioner":
        return "is not a practitioner there"
    if member.read_only:
        return "is read-only there"
    if member.access_level not in SUCCESSOR_LEVELS:
        return f"has {member.access_level} access there (a successor needs clinical or full)"
    return None


def can_succeed(m: Any = s.memberships):
    """``successor_lack`` in SQL, on the membership table (or alias) ``m``: the
    membership could take a leaver's appointments (before the leaver is left out)."""
    return and_(
        m.c.status == "active",
        m.c.role == "practitioner",
        m.c.read_only.is_(False),
        m.c.access_level.in_(SUCCESSOR_LEVELS),
    )


def successor_counts(members: Any):
    """``members`` (a CTE or subquery with ``group_id`` and ``user_id``) with one more
    column, ``successors``: how many of the group's members could take that member's
    appointments (``can_succeed``, the member left out). Set-based: the eligible are
    counted once per group, then the member themselves subtracted when eligible."""
    pool = s.memberships.alias("pool")
    per_group = (
        select(pool.c.group_id, func.count().label("eligible"))
        .where(pool.c.group_id.in_(select(members.c.group_id)), can_succeed(pool))
        .group_by(pool.c.group_id)
        .subquery("per_group")
    )
    me = s.memberships.alias("me")
    joined = members.outerjoin(per_group, per_group.c.group_id == members.c.group_id).outerjoin(
        me, and_(me.c.group_id == members.c.group_id, me.c.user_id == members.c.user_id)
    )
    successors = func.coalesce(per_group.c.eligible, 0) - case((can_succeed(me), 1), else_=0)
    return select(*members.c, successors.label("successors")).select_from(joined)


def booked_at(conn: Connection, slots: Iterable[tuple[str, datetime]]) -> set[tuple[str, datetime]]:
    """Which (practitioner user_id, starts_at) of ``slots`` hold a booked appointment, in
    any group (it is one person's diary)."""
    pairs = sorted(set(slots))
    if not pairs:
        return set()
    wanted = listed(conn, pairs, _SLOT)
    query = (
        select(_a.practitioner_id, _a.starts_at)
        .select_from(wanted.join(s.appointments, _diary_at(wanted.c.user_id, wanted.c.starts_at)))
        .distinct()
    )
    return {(user_id, starts_at) for user_id, starts_at in conn.execute(query)}


def _diary_at(user_id, starts_at):
    """A booked appointment of ``user_id`` starting at ``starts_at``, in any group (the
    diary index: migration 0014)."""
    return and_(_a.practitioner_id == user_id, _a.starts_at == starts_at, _a.status == "booked")


@dataclass
class _Candidates:
    """The eligible successors of the groups concerned, their loads and busy times."""

    by_group: dict[str, list[tuple[str, str]]]  # group -> [(email key, user_id)]
    load: dict[str, int]  # user_id -> future booked appointments (all groups)
    busy: set[tuple[str, datetime]]  # (user_id, starts_at) already booked
    queues: dict[str, _Fewest] = field(default_factory=dict)

    def queue(self, group_id: str) -> _Fewest:
        """The group's eligible successors, fewest future appointments first."""
        if group_id not in self.queues:
            self.queues[group_id] = _Fewest(self.by_group.get(group_id, []), self)
        return self.queues[group_id]

    def give(self, user_id: str, starts_at: datetime) -> None:
        """One more appointment for the successor (in another group's queue, their
        entry is put right when it comes up)."""
        self.load[user_id] += 1
        self.busy.add((user_id, starts_at))

    def give_back(self, user_id: str, starts_at: datetime) -> None:
        self.load[user_id] -= 1
        self.busy.discard((user_id, starts_at))
        for queue in self.queues.values():  # a smaller load: it may come up earlier now
            queue.refresh(user_id)


class _Fewest:
    """A group's eligible successors as a heap of (load, email key, user_id), so each
    appointment finds the one with the fewest future appointments (ties by email)
    without looking at them all. A load changes when a proposal in any group gives or
    gives back an appointment: an entry whose load is no longer the successor's comes
    up, is put back with the current load and the next one is looked at."""

    def __init__(self, pool: Sequence[tuple[str, str]], candidates: _Candidates) -> None:
        self.candidates = candidates
        self.keys = {user_id: key for key, user_id in pool}
        self.heap = [(candidates.load[user_id], key, user_id) for key, user_id in pool]
        heapq.heapify(self.heap)

    def take(self, starts_at: datetime) -> tuple[str, str] | None:
        """The successor (email key, user_id) with the fewest future appointments who
        is free at ``starts_at``, or None."""
        load, busy, heap = self.candidates.load, self.candidates.busy, self.heap
        booked = []
        found = None
        while heap:
            entry = heapq.heappop(heap)
            count, key, user_id = entry
            if count != load[user_id]:
                heapq.heappush(heap, (load[user_id], key, user_id))
                continue
            if (user_id, starts_at) in busy:
                booked.append(entry)
                continue
            found = (key, user_id)
            heapq.heappush(heap, (count + 1, key, user_id))  # give() adds the one
            break
        for entry in booked:
            heapq.heappush(heap, entry)
        return found

    def refresh(self, user_id: str) -> None:
        """The successor's load went down: an entry with it (a stale one with a larger
        load is put right when it comes up)."""
        if user_id in self.keys:
            heapq.heappush(self.heap, (self.candidates.load[user_id], self.keys[user_id], user_id))


def _candidates(
    conn: Connection, group_ids: set[str], leaving: set[tuple[str, str]], after: datetime
) -> _Candidates:
    by_group: dict[str, list[tuple[str, str]]] = defaultdict(list)
    query = (
        select(_m.group_id, _m.user_id, _u.email_key)
        .join(s.users, _u.user_id == _m.user_id)
        .where(in_values(conn, _m.group_id, sorted(group_ids)), can_succeed())
    )
    for group_id, user_id, key in conn.execute(query):
        if (group_id, user_id) not in leaving:
            by_group[group_id].append((key, user_id))
    users = sorted({uid for found in by_group.values() for _, uid in found})
    load: dict[str, int] = dict.fromkeys(users, 0)
    busy: set[tuple[str, datetime]] = set()
    if users:
        query = select(_a.practitioner_id, _a.starts_at).where(
            in_values(conn, _a.practitioner_id, users),
            _a.status == "booked",
            _a.starts_at > after,
        )
        for booked in conn.execute(query):
            load[booked.practitioner_id] += 1
            busy.add((booked.practitioner_id, booked.starts_at))
    return _Candidates(by_group, load, busy)


def propose(
    conn: Connection,
    leavers: Sequence[Leaver],
    *,
    at: datetime,
    emails: dict[str, str] | None = None,
    also_leaving: Set[tuple[str, str]] = frozenset(),
) -> list[Proposal]:
    """What the hand-off would do for each leaver (in the order given); writes nothing.

    The leavers share one proposal: a successor given an appointment at a time is busy
    at that time for every later leaver, and no leaver is another's successor.
    ``emails`` maps user ids to the emails to show (read when missing);
    ``also_leaving`` (group_id, user_id) are members changing in the same change without
    a hand-off of their own, who cannot be successors either.
    """
    if not leavers:
        return []
    members = {(lv.group_id, lv.user_id) for lv in leavers} | set(also_leaving)
    diaries = future_appointments(conn, {(lv.group_id, lv.user_id) for lv in leavers}, at)
    cands = _candidates(conn, {lv.group_id for lv in leavers}, members, at)
    named = _named_successors(conn, [lv for lv in leavers if lv.handoff not in (AUTO, CANCEL)])
    shown = dict(emails or {})
    missing = {lv.user_id for lv in leavers} | set(cands.load)
    missing -= shown.keys()
    if missing:
        query = select(_u.user_id, _u.email).where(in_values(conn, _u.user_id, sorted(missing)))
        shown.update(dict(conn.execute(query).all()))
    proposals = []
    for leaver in leavers:
        proposal = Proposal(leaver, moves=diaries.get((leaver.group_id, leaver.user_id), []))
        proposals.append(proposal)
        if not proposal.moves:
            continue
        if leaver.handoff == CANCEL:
            for move in proposal.moves:
                move.outcome = "cancelled"
            continue
        if leaver.handoff == AUTO:
            pool = cands.by_group.get(leaver.group_id, [])
        else:
            member = named.get((leaver.group_id, leaver.handoff))
            lack = (
                "is the member leaving"
                if member is not None and member.user_id == leaver.user_id
                else "is leaving in the same change"
                if member is not None and (leaver.group_id, member.user_id) in members
                else successor_lack(member)
            )
            if lack is not None or member is None:
                proposal.problem = f"{leaver.handoff} cannot take the appointments: {lack}"
                continue
            pool = [(leaver.handoff, member.user_id)]
        if not pool:
            proposal.problem = "no eligible successor in the group"
            continue
        unplaced = []
        queue = cands.queue(leaver.group_id) if leaver.handoff == AUTO else None
        for move in proposal.moves:
            if queue is not None:
                found = queue.take(move.starts_at)
            else:
                free = [c for c in pool if (c[1], move.starts_at) not in cands.busy]
                found = free[0] if free else None
            if found is None:
                unplaced.append(move)
                continue
            key, user_id = found
            move.outcome, move.to_user_id, move.to = "reassigned", user_id, shown.get(user_id, key)
            cands.give(user_id, move.starts_at)
        if unplaced:
            first = unplaced[0]
            proposal.problem = (
                f"appointment {first.appointment_id} at {iso(first.starts_at)} cannot be "
                "placed: every eligible successor is booked then"
                + (f" (and {len(unplaced) - 1} more)" if len(unplaced) > 1 else "")
            )
            # nothing of this leaver is handed off: give back what the proposal took
            for move in proposal.moves:
                if move.to_user_id is not None:
                    cands.give_back(move.to_user_id, move.starts_at)
                move.outcome = move.to_user_id = move.to = None
    return proposals


def _named_successors(conn: Connection, leavers: Sequence[Leaver]) -> dict[tuple[str, str], Any]:
    """The memberships of the named successors, by (group_id, email key)."""
    return successors(conn, {(lv.group_id, lv.handoff) for lv in leavers})


def successors(conn: Connection, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """The memberships (with ``email_key``) of the (group_id, email key) ``wanted``;
    those that are not members are missing."""
    wanted = sorted(set(wanted))
    if not wanted:
        return {}
    named = listed(conn, wanted, [("group_id", _m.group_id.type), ("key", _u.email_key.type)])
    query = select(s.memberships, _u.email_key).select_from(
        named.join(s.users, _u.email_key == named.c.key).join(
            s.memberships, and_(_m.user_id == _u.user_id, _m.group_id == named.c.group_id)
        )
    )
    return {(row.group_id, row.email_key): row for row in conn.execute(query)}


def refusal(email: str, group: str, problem: str) -> str:
    """The refusal of a hand-off that cannot be placed (exit 1)."""
    return f"refused: the hand-off of {email}'s appointments in {group} failed: {problem}"


def digest(moves: Iterable[Any]) -> str:
    """What a plan row's fingerprint covers of its hand-off: which appointments, when,
    and what happens to each (``Move`` or its ``to_dict``)."""
    parts = []
    for move in moves if isinstance(moves, list | tuple) else [moves]:
        record = move.to_dict() if isinstance(move, Move) else move
        if not isinstance(record, dict):  # a hand-edited plan file: apply calls it stale
            parts.append(repr(record))
            continue
        get = record.get
        parts.append(f"{get('appointment_id')}@{get('starts_at')}>{get('outcome')}:{get('to')}")
    return hashlib.sha256("|".join(sorted(parts)).encode()).hexdigest()[:16]


def apply_moves(
    conn: Connection,
    moves: Sequence[Move],
    *,
    actor_id: str,
    at: datetime,
    run_id: str | None = None,
    reason: str | None = None,
) -> int:
    """Write the moves in the caller's transaction (``write_moves``); returns how many
    appointments changed."""
    moves = [m for m in moves if m.outcome is not None]
    if not moves:
        return 0
    table = moves_table(conn)
    load_moves(
        conn,
        table,
        (
            (m.appointment_id, 0, i, m.group_id, m.from_user_id, m.starts_at, iso(m.starts_at),
             m.to_user_id, m.to)
            for i, m in enumerate(moves)
        ),
    )  # fmt: skip
    return write_moves(conn, table, actor_id=actor_id, at=at, run_id=run_id, reason=reason)


MOVES_TABLE = "opskit_handoff_moves"


def moves_table(conn: Connection) -> Table:
    """A temporary table of moves in the caller's transaction, one row per appointment:
    the (bulk) plan row and its position there, the leaver, the time (stored and as
    shown) and the successor (user id and the email the event names; null: cancel).
    ``write_moves`` drops it; should the transaction fail first, rolling back does."""
    table = Table(
        MOVES_TABLE,
        MetaData(),
        Column("appointment_id", _a.appointment_id.type, primary_key=True),
        Column("row_no", Integer, nullable=False),
        Column("position", Integer, nullable=False),
        Column("group_id", _a.group_id.type, nullable=False),
        Column("from_user_id", _a.practitioner_id.type, nullable=False),
        Column("starts_at", DateTime, nullable=False),
        Column("starts_text", String(40), nullable=False),
        Column("to_user_id", _a.practitioner_id.type, nullable=True),
        Column("to_email", String(320), nullable=True),
        prefixes=["TEMPORARY"],
    )
    table.create(conn)
    return table


def load_moves(conn: Connection, table: Table, rows: Iterable[Sequence[Any]]) -> None:
    """Insert ``rows`` (the table's columns in order): on PostgreSQL in one statement
    (``listed``); on SQLite as tuples through ``insert_tuples``. A bulk batch loads
    100,000 moves: SQLite's ``json_extract`` of nine columns a row and the JSON built
    for it took twice as long."""
    columns = [(c.name, c.type) for c in table.columns]
    if conn.dialect.name == "postgresql":
        conn.execute(
            insert(table).from_select([c for c, _ in columns], select(listed(conn, rows, columns)))
        )
        conn.exec_driver_sql(f"ANALYZE {table.name}")  # temporary tables get no statistics
        return
    store = stored_time(conn.dialect)
    times = [i for i, (_, type_) in enumerate(columns) if isinstance(type_, DateTime)]
    data = []
    for row in rows:
        row = list(row)
        for i in times:
            row[i] = store(row[i])
        data.append(tuple(row))
    insert_tuples(conn, table.name, [c for c, _ in columns], data)


def write_moves(
    conn: Connection,
    table: Table,
    *,
    actor_id: str,
    at: datetime,
    run_id: str | None = None,
    reason: str | None = None,
) -> int:
    """Make the moves of ``table`` (``moves_table``) and drop it: one UPDATE per kind of
    move for the whole set, each appointment found by primary key and conditional on
    still being booked with its practitioner, so a short count (something changed
    underneath) refuses the change. Then the double-booking guard, and one audit event
    per appointment (``appointment_reassigned`` / ``appointment_cancelled``), built by
    the database. Returns how many appointments changed."""
    t = table.c
    expected, reassigned = conn.execute(
        select(func.count(), func.count(t.to_user_id)).select_from(table)
    ).one()
    changed = 0
    for reassigning in (True, False):
        if not (reassigned if reassigning else expected - reassigned):
            continue  # an UPDATE of no rows still reads the whole table of moves
        statement = update(s.appointments).where(
            # the IN beside the join keeps SQLite on the primary key: without it,
            # UPDATE ... FROM scans every appointment
            _a.appointment_id.in_(select(t.appointment_id)),
            _a.appointment_id == t.appointment_id,
            _a.practitioner_id == t.from_user_id,
            _a.status == "booked",
            t.to_user_id.is_not(None) if reassigning else t.to_user_id.is_(None),
        )
        if reassigning:
            statement = statement.values(practitioner_id=t.to_user_id)
        else:
            statement = statement.values(status="cancelled")
        changed += conn.execute(statement).rowcount
    if changed != expected:
        raise NoSuccessor(
            f"refused: {expected - changed} of {expected} appointments changed while "
            "the hand-off was being made; nothing was handed off, try again"
        )
    guard_not_double_booked(conn, table)
    j = SqlJson(conn.dialect.name)
    e = s.audit_events.c
    cancelled = t.to_user_id.is_(None)
    record_selected(
        conn,
        select(
            literal(at, e.at.type).label("at"),
            literal(actor_id, e.actor_id.type).label("actor_id"),
            t.group_id.label("group_id"),
            t.from_user_id.label("user_id"),
            case(
                (cancelled, literal(Action.APPOINTMENT_CANCELLED.value, e.action.type)),
                else_=literal(Action.APPOINTMENT_REASSIGNED.value, e.action.type),
            ).label("action"),
            literal(None, e.item.type).label("item"),
            j.text(
                j.obj(
                    appointment_id=t.appointment_id,
                    practitioner_id=t.from_user_id,
                    starts_at=t.starts_text,
                    status=j.const("booked"),
                )
            ).label("before"),
            j.text(
                case(
                    (cancelled, j.const({"status": "cancelled"})),
                    else_=j.obj(practitioner_id=t.to_user_id, to=t.to_email),
                )
            ).label("after"),
            literal(reason, e.reason.type).label("reason"),
            literal(run_id, e.run_id.type).label("run_id"),
        ).order_by(t.row_no, t.position),
    )
    table.drop(conn)
    return changed


def guard_not_double_booked(conn: Connection, table: Table) -> None:
    """No successor of the moves in ``table`` holds two booked appointments starting at
    a time they were given one: checked in SQL after the writes, so it holds whatever
    the proposal was built from (a booking made since, a hand-edited plan)."""
    t = table.c
    # one diary lookup per move (a correlated count): as a join, SQLite's planner chose
    # to scan the whole diary index against the moves instead
    booked = (
        select(func.count())
        .select_from(s.appointments)
        .where(_diary_at(t.to_user_id, t.starts_at))
        .scalar_subquery()
    )
    clash = conn.execute(
        select(t.to_user_id, t.starts_at).where(t.to_user_id.is_not(None), booked > 1).limit(1)
    ).first()
    if clash is not None:
        email = conn.execute(select(_u.email).where(_u.user_id == clash[0])).scalar_one()
        raise NoSuccessor(
            f"refused: {email} would be booked twice at {iso(clash[1])}; nothing was handed off"
        )


# ---------------------------------------------------------------- for the front desk

FRONT_DESK_COLUMNS = [
    "group_id",
    "group",
    "appointment_id",
    "patient_id",
    "starts_at",
    "practitioner",
    "outcome",
    "to",
]


def front_desk_rows(
    moves: Iterable[Move | dict[str, Any]], *, group: str, practitioner: str
) -> list[dict[str, Any]]:
    """The affected patients and times of one leaver, for the clinic to call."""
    rows = []
    for move in moves:
        record = move.for_front_desk() if isinstance(move, Move) else move
        if record.get("outcome") is None:
            continue
        rows.append(
            {
                "group_id": record.get("group_id"),
                "group": group,
                "appointment_id": record["appointment_id"],
                "patient_id": record.get("patient_id"),
                "starts_at": record["starts_at"],
                "practitioner": practitioner,
                "outcome": record["outcome"],
                "to": record.get("to"),
            }
        )
    return rows


def write_front_desk_csv(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write the front desk's CSV (UTF-8, spreadsheet-safe); returns its path."""
    path = Path(path)
    if path.is_dir():
        raise BadInput("is a folder; give a file name for the CSV", column="--handoff-out")
    try:
        with path.open("w", newline="", encoding="utf-8") as out:
            cells = ([row.get(c) for c in FRONT_DESK_COLUMNS] for row in rows)
            write_csv(out, FRONT_DESK_COLUMNS, cells)
    except OSError as error:
        raise BadInput(f"cannot write {path}: {error.strerror}", column="--handoff-out") from None
    return path


# ---------------------------------------------------------------- the listing

APPOINTMENT_COLUMNS = ["appointment_id", "group_id", "email", "patient_id", "starts_at", "status"]


def list_appointments(
    db: Any,
    *,
    group: str | None = None,
    user: str | None = None,
    starting: str | datetime | None = None,
) -> list[dict[str, Any]]:
    """Appointments (booked and cancelled) by group, time and id; ``user`` limits them
    to one practitioner's, ``starting`` to those starting at or after a time."""
    from .clock import parse_time
    from .rules import find_group, find_user

    query = (
        select(
            _a.appointment_id,
            _a.group_id,
            _u.email,
            _a.patient_id,
            _a.starts_at,
            _a.status,
        )
        .join(s.users, _u.user_id == _a.practitioner_id)
        .order_by(_a.group_id, _a.starts_at, _a.appointment_id)
    )
    if isinstance(starting, str):
        try:
            starting = parse_time(starting, where="--from")
        except BadInput:
            raise BadInput(f"{starting!r} is not an ISO 8601 time", column="--from") from None
    if starting is not None:
        query = query.where(_a.starts_at >= starting)
    with db.read() as conn:
        if group is not None:
            query = query.where(_a.group_id == find_group(conn, group).group_id)
        if user is not None:
            query = query.where(
                _a.practitioner_id == find_user(conn, user, option="--user").user_id
            )
        rows = [dict(row._mapping) for row in conn.execute(query)]
    for row in rows:
        row["starts_at"] = iso(row["starts_at"])
    return rows


def eligible_successors(db: Any, group: str, *, leaving: str | None = None) -> list[str]:
    """The emails of the group's eligible successors (``successor_lack``), by email;
    ``leaving`` (an email) is left out."""
    from .rules import find_group

    with db.read() as conn:
        grp = find_group(conn, group)
        query = (
            select(_u.email)
            .join(s.memberships, _m.user_id == _u.user_id)
            .where(_m.group_id == grp.group_id, can_succeed())
            .order_by(_u.email_key)
        )
        if leaving is not None:
            query = query.where(_u.email_key != email_key(leaving))
        return list(conn.execute(query).scalars())
