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

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select, tuple_, update

from .. import schema as s
from ..clock import iso, parse_time
from ..handoff import (
    Leaver,
    Move,
    booked_at,
    digest,
    future_appointments,
    propose,
    successor_lack,
)
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


def check_batch(
    conn: Connection, rows: Sequence[PlanRow], planned_at: str, at: datetime
) -> dict[int, tuple[str | None, list[Move]]]:
    """For each hand-off row of a batch: why it is stale (None: it is not), and the
    moves to make now."""
    since = parse_time(planned_at, where="the plan's created_at") if planned_at else at
    current = future_appointments(conn, {(r.group_id, r.user_id) for r in rows}, since)
    wanted = sorted(
        {(r.group_id, a["to"].strip().lower()) for r in rows for a in r.appointments if a["to"]}
    )
    members = {}
    for start in range(0, len(wanted), 5000):
        query = (
            select(s.memberships, _u.email_key)
            .join(s.users, _u.user_id == _m.user_id)
            .where(tuple_(_m.group_id, _u.email_key).in_(wanted[start : start + 5000]))
        )
        members.update({(m.group_id, m.email_key): m for m in conn.execute(query)})
    slots = sorted(
        {
            (members[(r.group_id, a["to"].strip().lower())].user_id, parse_time(a["starts_at"]))
            for r in rows
            for a in r.appointments
            if a["to"] and (r.group_id, a["to"].strip().lower()) in members
        }
    )
    busy = booked_at(conn, slots)

    found: dict[int, tuple[str | None, list[Move]]] = {}
    for row in rows:
        mine = current.get((row.group_id, row.user_id), [])
        now_ids = {(m.appointment_id, iso(m.starts_at)) for m in mine}
        planned_ids = {(a["appointment_id"], a["starts_at"]) for a in row.appointments}
        if now_ids != planned_ids:
            added, gone = len(now_ids - planned_ids), len(planned_ids - now_ids)
            found[row.row] = (
                f"changed since planning (future appointments: {added} new, {gone} moved or "
                "cancelled); plan again",
                [],
            )
            continue
        by_id = {m.appointment_id: m for m in mine}
        problem = None
        moves = []
        for planned in row.appointments:
            move = by_id[planned["appointment_id"]]
            if planned["outcome"] == "reassigned":
                key = str(planned["to"]).strip().lower()
                member = members.get((row.group_id, key))
                lack = successor_lack(member)
                if lack is not None or member is None:
                    problem = f"changed since planning ({key} {lack}); plan again"
                    break
                if (member.user_id, move.starts_at) in busy:
                    problem = (
                        f"changed since planning ({key} was booked at {iso(move.starts_at)} "
                        "since); plan again"
                    )
                    break
                move.outcome, move.to_user_id, move.to = "reassigned", member.user_id, key
            else:
                move.outcome = "cancelled"
            if move.starts_at > at:  # one that has started since planning stays put
                moves.append(move)
        found[row.row] = (problem, [] if problem else moves)
    return found


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
