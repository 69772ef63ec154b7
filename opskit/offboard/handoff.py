"""The hand-off in bulk offboarding: the glue between plan rows and ``opskit.handoff``.

Planning proposes the hand-off of every unblocked deactivation of the plan at once (so
two leavers handed to one successor never collide, and no leaver is another's
successor); a row whose appointments cannot be placed is blocked as ``no_successor``.
A row's fingerprint then also covers its hand-off: which appointments, when, and what
happens to each.

Apply does what was reviewed, not a new proposal: for a batch's hand-off rows it checks,
under the batch's locks, that the member's booked appointments since the plan was made
are exactly the planned ones, that each successor is still eligible and still free at
that time; a row where any of that changed is ``stale``. The moves still ahead are made
by ``opskit.handoff.apply_moves`` in the batch's transaction; any that have started
since planning are left where they are.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Table,
    and_,
    delete,
    func,
    select,
    tuple_,
    update,
)

from .. import schema as s
from ..clock import parse_time
from ..db import in_values
from ..errors import BadInput
from ..handoff import (
    Leaver,
    _diary_at,
    booked_at,
    can_succeed,
    digest,
    listed,
    load_moves,
    moves_table,
    propose,
    successor_lack,
    successors,
    write_moves,
)
from ..rules import email_key
from .plan import PlanRow

_a = s.appointments.c
_m = s.memberships.c
_u = s.users.c


def with_handoff(fingerprint: str, handoff: str | None, appointments) -> str:
    """A row's fingerprint extended over its hand-off (unchanged without one)."""
    if handoff is None:
        return fingerprint
    text = f"{fingerprint}|{handoff}|{digest(appointments)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_handoffs(conn: Connection, rows: Sequence[PlanRow], at: datetime) -> None:
    """Propose the hand-off of the plan's unblocked deactivations (``row.handoff`` set),
    block as ``no_successor`` those that cannot be placed, and fingerprint the rest."""
    leaving = {(str(r.group_id), r.user_id) for r in rows if r.blocker is None and r.user_id}
    ready = [
        r for r in rows if r.blocker is None and r.handoff is not None and r.action == "deactivate"
    ]
    emails = {r.user_id: r.email for r in rows if r.user_id}
    proposals = propose(
        conn,
        [Leaver(str(r.group_id), str(r.user_id), str(r.handoff)) for r in ready],
        at=at,
        emails=emails,
        also_leaving=leaving,
    )
    for row, proposal in zip(ready, proposals, strict=True):
        row.appointments = tuple(move.to_dict() for move in proposal.moves)
        if not proposal.placed:
            row.blocker, row.message = "no_successor", str(proposal.problem)
        row.fingerprint = with_handoff(str(row.fingerprint), row.handoff, row.appointments)


_REPLAN = "changed since planning ({}); plan again"


@dataclass
class BatchHandoff:
    """A batch's hand-off rows checked against the database: why a row is stale, and
    the moves still to make (in a temporary table, ``opskit.handoff.moves_table``)
    until ``apply`` makes those of the rows that go ahead."""

    stale: dict[int, str] = field(default_factory=dict)
    table: Table | None = None

    def apply(
        self, conn: Connection, going: Sequence[int], *, actor_id: str, at: datetime, run_id: str
    ) -> dict[int, int]:
        """Hand off the appointments of the rows ``going`` ahead, in the batch's
        transaction, except those that have started since planning (they stay where
        they are); drops the table. Returns how many each row handed off."""
        if self.table is None:
            return {}
        t = self.table.c
        conn.execute(delete(self.table).where(t.starts_at <= at))
        if going:
            conn.execute(delete(self.table).where(~in_values(conn, t.row_no, sorted(going))))
        else:
            conn.execute(delete(self.table))
        counts: dict[int, int] = dict(
            conn.execute(select(t.row_no, func.count()).group_by(t.row_no)).all()
        )
        write_moves(conn, self.table, actor_id=actor_id, at=at, run_id=run_id)
        self.table = None
        return counts


def check_batch(
    conn: Connection, rows: Sequence[PlanRow], planned_at: str, at: datetime
) -> BatchHandoff:
    """Check the batch's hand-off rows, set-based: the planned moves go into a temporary
    table, and three statements find what changed since planning: booked appointments
    of the leaver that the plan does not list, planned ones no longer as planned, and
    successors booked at the time since. Whether each named successor is still
    eligible is one UPDATE of the table (``_successors_checked``). A row whose hand-off
    in the plan file is not as planning writes it is stale too."""
    since = parse_time(planned_at, where="the plan's created_at") if planned_at else at
    found = BatchHandoff()
    if not rows:
        return found
    leaving = {(r.group_id, r.user_id) for r in rows}
    seen: set[str] = set()
    planned: list[list[Any]] = []  # the moves_table columns, the successor by email key
    leavers = []
    for row in rows:
        try:
            moves = _planned_moves(row, seen)
        except (KeyError, TypeError, ValueError, AttributeError, BadInput):
            found.stale[row.row] = _REPLAN.format("its hand-off in the plan is not as planned")
            continue
        leavers.append((row.row, row.group_id, row.user_id))
        planned.extend(moves)
    table = found.table = moves_table(conn)
    load_moves(conn, table, planned)
    lacking = _successors_checked(conn, table, leaving)
    t = table.c

    leaver = listed(conn, leavers, [("row_no", Integer()), *_MEMBER_COLUMNS])
    ours = select(t.appointment_id).where(
        t.appointment_id == _a.appointment_id,
        t.row_no == leaver.c.row_no,
        t.starts_at == _a.starts_at,
    )
    new = (
        select(leaver.c.row_no, func.count())
        .select_from(
            leaver.join(
                s.appointments,
                and_(_a.group_id == leaver.c.group_id, _a.practitioner_id == leaver.c.user_id),
            )
        )
        .where(_a.status == "booked", _a.starts_at > since, ~ours.exists())
        .group_by(leaver.c.row_no)
    )
    added: dict[int, int] = dict(conn.execute(new).all())
    as_planned = and_(
        _a.group_id == t.group_id,
        _a.practitioner_id == t.from_user_id,
        _a.status == "booked",
        _a.starts_at == t.starts_at,
        _a.starts_at > since,
    )
    gone_query = (
        select(t.row_no, func.count())
        .select_from(table.outerjoin(s.appointments, _a.appointment_id == t.appointment_id))
        .where(~func.coalesce(as_planned, False))
        .group_by(t.row_no)
    )
    gone: dict[int, int] = dict(conn.execute(gone_query).all())
    clashes = conn.execute(
        select(t.row_no, t.position, t.to_email, t.starts_text)
        .select_from(table.join(s.appointments, _diary_at(t.to_user_id, t.starts_at)))
        .order_by(t.row_no, t.position)
    ).all()
    busy: dict[int, tuple[int, str]] = {}
    for row_no, position, key, starts in clashes:
        busy.setdefault(row_no, (position, f"{key} was booked at {starts} since"))
    for row_no in set(added) | set(gone) | set(lacking) | set(busy):
        if row_no in added or row_no in gone:
            n_new, n_gone = added.get(row_no, 0), gone.get(row_no, 0)
            why = f"future appointments: {n_new} new, {n_gone} moved or cancelled"
        else:
            why = min(p for p in (lacking.get(row_no), busy.get(row_no)) if p is not None)[1]
        found.stale[row_no] = _REPLAN.format(why)
    if found.stale:  # what is left in the table is what the rows going ahead may move
        conn.execute(delete(table).where(in_values(conn, t.row_no, sorted(found.stale))))
    return found


def _successors_checked(
    conn: Connection, table: Table, leaving: set[tuple[Any, Any]]
) -> dict[int, tuple[int, str]]:
    """Give each planned reassignment in ``table`` its successor's user id, set-based:
    one UPDATE finds it by email key when the successor is still eligible in the group
    (``can_succeed``). A successor who is not, or who leaves in the same batch, is
    looked at once per (group, successor) with ``successor_lack`` for the words, and
    their moves keep no user id (so they count neither as new nor as booked). Returns
    per row its first such move: (position, why)."""
    t = table.c
    eligible = (
        select(_m.user_id)
        .join(s.users, _u.user_id == _m.user_id)
        .where(_u.email_key == t.to_email, _m.group_id == t.group_id, can_succeed())
        .scalar_subquery()
    )
    conn.execute(update(table).where(t.to_email.is_not(None)).values(to_user_id=eligible))
    pairs = conn.execute(
        select(t.group_id, t.to_email, t.to_user_id).where(t.to_email.is_not(None)).distinct()
    ).all()
    bad = {(g, key) for g, key, user_id in pairs if user_id is None or (g, user_id) in leaving}
    if not bad:
        return {}
    named = successors(conn, bad)
    why = {}
    for group_id, key in bad:
        member = named.get((group_id, key))
        leaves = member is not None and (group_id, member.user_id) in leaving
        lack = "is leaving in the same change" if leaves else successor_lack(member)
        why[(group_id, key)] = f"{key} {lack or 'is not eligible'}"
    found = conn.execute(
        select(t.appointment_id, t.row_no, t.position, t.group_id, t.to_email)
        .where(in_values(conn, t.to_email, sorted({key for _, key in bad})))
        .order_by(t.row_no, t.position)
    ).all()
    lacking: dict[int, tuple[int, str]] = {}
    cleared = []
    for appointment_id, row_no, position, group_id, key in found:
        if (group_id, key) in bad:
            cleared.append(appointment_id)
            lacking.setdefault(row_no, (position, why[(group_id, key)]))
    conn.execute(
        update(table).where(in_values(conn, t.appointment_id, cleared)).values(to_user_id=None)
    )
    return lacking


_MEMBER_COLUMNS = [("group_id", _a.group_id.type), ("user_id", _a.practitioner_id.type)]
_OUTCOMES = ("reassigned", "cancelled")
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.(?!0{6})\d{6})?Z")


@functools.lru_cache(maxsize=65_536)  # a batch's moves share a few thousand times
def _planned_start(text: str) -> datetime:
    """A planned move's time, only as ``iso`` writes it (else ValueError)."""
    if not _ISO.fullmatch(text):
        raise ValueError("time")
    return datetime.fromisoformat(text[:-1])


@functools.lru_cache(maxsize=65_536)  # and a few thousand successors
def _successor_key(to: str) -> str | None:
    return email_key(to.strip()) if to.strip() else None


def _planned_moves(row: PlanRow, seen: set[str]) -> list[list[Any]]:
    """A plan row's planned moves as ``moves_table`` rows (the successor as its email
    key, its user id left to ``_successors_checked``); anything not as planning writes
    it is an error (the row is stale)."""
    if not row.user_id or not row.group_id:
        raise ValueError("no member")
    moves = []
    for position, planned in enumerate(row.appointments):
        appointment_id, text, outcome = (
            planned["appointment_id"], planned["starts_at"], planned["outcome"]
        )  # fmt: skip
        if not isinstance(appointment_id, str) or appointment_id in seen:
            raise ValueError("appointment")
        if outcome not in _OUTCOMES:
            raise ValueError("outcome")
        starts = _planned_start(text)  # as ``iso`` writes it
        if outcome == "reassigned":
            to = planned["to"]
            key = _successor_key(to) if isinstance(to, str) else None
            if key is None:
                raise ValueError("successor")
        else:
            key = None
        seen.add(appointment_id)
        moves.append(
            [appointment_id, row.row, position, row.group_id, row.user_id, starts, text, None, key]
        )
    return moves


def give_back(
    conn: Connection,
    run_id: str,
    members: Sequence[tuple[str, str]],
    *,
    actor_id: str,
    at: datetime,
    reason: str,
) -> dict[tuple[str, str], tuple[int, list[str]]]:
    """Undo's part: the appointments ``run_id`` handed off from ``members`` (group_id,
    user_id: those undo reactivates) go back to them when still as the run left them
    (with the successor it gave them to, or cancelled) and still ahead, and the member
    is free then. Returns per member how many went back and, for the others, which were
    left alone and why. One ``appointment_reassigned`` event per appointment given back
    (``after.given_back``)."""
    import json

    from ..audit import event_row, record_many
    from ..schema import Action

    e = s.audit_events.c
    wanted = sorted(set(members))
    found: dict[tuple[str, str], tuple[int, list[str]]] = {}
    if not wanted:
        return found
    events = []
    for start in range(0, len(wanted), 5000):
        query = (
            select(e.group_id, e.user_id, e.action, e.before, e.after)
            .where(
                e.run_id == run_id,
                e.action.in_(
                    (Action.APPOINTMENT_REASSIGNED.value, Action.APPOINTMENT_CANCELLED.value)
                ),
                tuple_(e.group_id, e.user_id).in_(wanted[start : start + 5000]),
            )
            .order_by(e.event_id)
        )
        for group_id, user_id, action, before, after in conn.execute(query):
            after = json.loads(after or "{}")
            if not after.get("given_back"):
                events.append((group_id, user_id, action, json.loads(before or "{}"), after))
    ids = sorted({ev[3]["appointment_id"] for ev in events})
    current = {}
    for start in range(0, len(ids), 5000):
        query = select(s.appointments).where(_a.appointment_id.in_(ids[start : start + 5000]))
        current.update({row.appointment_id: row for row in conn.execute(query)})
    busy_query = sorted(
        {
            (ev[1], current[ev[3]["appointment_id"]].starts_at)
            for ev in events
            if ev[3]["appointment_id"] in current
        }
    )
    busy = booked_at(conn, busy_query)

    back: dict[str, list[str]] = defaultdict(list)  # successor (or "" for cancelled) -> ids
    rows = []
    for group_id, user_id, action, before, after in events:
        aid = before["appointment_id"]
        counted, left = found.get((group_id, user_id), (0, []))
        row = current.get(aid)
        cancelled = action == Action.APPOINTMENT_CANCELLED.value
        if row is None:
            why = "no longer there"
        elif (row.status, row.practitioner_id) != (
            ("cancelled", user_id) if cancelled else ("booked", after.get("practitioner_id"))
        ):
            why = "changed since the run"
        elif row.starts_at <= at:
            why = "already started"
        elif (user_id, row.starts_at) in busy:
            why = "its practitioner is booked at that time since"
        else:
            why = None
        if why is not None or row is None:
            found[(group_id, user_id)] = (counted, [*left, f"{aid} ({why})"])
            continue
        busy.add((user_id, row.starts_at))
        back["" if cancelled else row.practitioner_id].append(aid)
        found[(group_id, user_id)] = (counted + 1, left)
        rows.append(
            event_row(
                at=at,
                actor_id=actor_id,
                group_id=group_id,
                user_id=user_id,
                action=Action.APPOINTMENT_REASSIGNED,
                before={
                    "appointment_id": aid,
                    "practitioner_id": row.practitioner_id,
                    "status": row.status,
                },
                after={"practitioner_id": user_id, "status": "booked", "given_back": True},
                reason=reason,
                run_id=run_id,
            )
        )
    by_id = {ev[3]["appointment_id"]: ev[1] for ev in events}
    for holder, aids in back.items():
        for leaver in sorted({by_id[a] for a in aids}):
            mine = [a for a in aids if by_id[a] == leaver]
            condition = (
                (_a.status == "cancelled") & (_a.practitioner_id == leaver)
                if holder == ""
                else (_a.status == "booked") & (_a.practitioner_id == holder)
            )
            conn.execute(
                update(s.appointments)
                .where(_a.appointment_id.in_(mine), condition)
                .values(practitioner_id=leaver, status="booked")
            )
    record_many(conn, rows)
    return found


def front_desk_of_run(db: Any, run_id: str) -> list[dict[str, Any]]:
    """The front desk's rows (``opskit.handoff.FRONT_DESK_COLUMNS``) of what run
    ``run_id`` handed off: from its audit events (one per appointment), so only what
    was made, not what was planned; by group, time and appointment."""
    import json

    from ..handoff import front_desk_rows
    from ..schema import Action

    e = s.audit_events.c
    g = s.groups.c
    query = (
        select(e.group_id, g.name, _u.email, e.action, e.before, e.after)
        .join(s.groups, g.group_id == e.group_id)
        .join(s.users, _u.user_id == e.user_id)
        .where(
            e.run_id == run_id,
            e.action.in_((Action.APPOINTMENT_REASSIGNED.value, Action.APPOINTMENT_CANCELLED.value)),
        )
        .order_by(e.event_id)
    )
    with db.read() as conn:
        events = []
        for group_id, group, email, action, before, after in conn.execute(query):
            after = json.loads(after or "{}")
            if not after.get("given_back"):
                events.append((group_id, group, email, action, json.loads(before), after))
        ids = sorted({ev[4]["appointment_id"] for ev in events})
        patient = select(_a.appointment_id, _a.patient_id)
        patients = dict(conn.execute(patient.where(in_values(conn, _a.appointment_id, ids))).all())
        taking = sorted({ev[5]["practitioner_id"] for ev in events if ev[5].get("practitioner_id")})
        email_of = select(_u.user_id, _u.email)
        emails = dict(conn.execute(email_of.where(in_values(conn, _u.user_id, taking))).all())
    rows = []
    for group_id, group, email, action, before, after in events:
        reassigned = action == Action.APPOINTMENT_REASSIGNED.value
        move = {
            "group_id": group_id,
            "appointment_id": before["appointment_id"],
            "patient_id": patients.get(before["appointment_id"]),
            "starts_at": before["starts_at"],
            "outcome": "reassigned" if reassigned else "cancelled",
            "to": emails.get(after.get("practitioner_id"), after.get("to")) if reassigned else None,
        }
        rows.extend(front_desk_rows([move], group=group, practitioner=email))
    rows.sort(key=lambda r: (r["group_id"], r["starts_at"], r["appointment_id"]))
    return rows
