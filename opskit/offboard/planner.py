"""Planning: who to offboard, matched to memberships, each row with its blocker.

``plan_offboarding`` reads who to offboard (``input``) and matches it to memberships in
a handful of set-based queries (ids in chunks, never a query per row). Each plan row is
one (group, member) with the planned action, a blocker (``None`` when the row will be
applied, else one of ``BLOCKERS``, with a ``message`` in words), the checklist items to
resolve, the sessions to revoke, the future appointments and a fingerprint of the
member's state (``state``). Planning writes nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, select

from .. import schema as s
from ..clock import iso, now
from ..db import Database, in_values
from ..identity import acting_user
from ..rules import (
    email_key,
    find_group,
    full_access_refusal,
    lockout_counts,
    lockout_lacks,
    lockout_refusal,
    manageable_groups,
    not_authorised,
)
from .bulk import chunks, collector_paused
from .input import Target, normalise_action, read_targets
from .plan import Plan, PlanRow
from .state import State, read_states


class _Member(NamedTuple):
    """A membership with its user's email and name (a tuple: read once per target)."""

    # a user without memberships has one row with the membership's columns None; it
    # is never expanded, so a membership that is expanded always has its id
    membership_id: int
    group_id: str
    status: str
    user_id: str
    email: str
    name: str
    email_key: str


class _Group(NamedTuple):
    group_id: str
    name: str


PLAN_SLICE = 50_000  # targets planned together (bounds the planner's memory)
_m = s.memberships.c


@collector_paused
def plan_offboarding(
    db: Database,
    targets: Any,
    *,
    actor: str | None = None,
    group: str | None = None,
    action: str = "deactivate",
    reason: str | None = None,
    source: str | None = None,
    handoff: str | None = None,
) -> Plan:
    """Plan who to offboard; writes nothing.

    ``targets`` is a CSV path, the bytes of an upload, a DataFrame or a list of dicts
    (``email`` and optionally ``group``/``group_id``, ``action``, ``reason``). A row
    without a group means every active membership of that user the actor may manage.
    ``group`` limits the plan to one group; ``action`` and ``reason`` are the defaults
    for rows that do not say, and ``handoff`` (``auto`` or ``cancel``) the hand-off of
    deactivations whose row has no ``handoff`` (``offboard.handoff``).
    """
    wanted, label = read_targets(targets, name=source)
    default_action = normalise_action(action, file=None, line=None, column="--action")
    default_action = default_action or "deactivate"
    default_reason = (reason or "").strip() or None
    default_handoff = _default_handoff(handoff)
    at = now()
    with db.read() as conn:
        who = acting_user(conn, actor)
        scope = find_group(conn, group) if group is not None else None
        planner = _Planner(conn, who, scope, at)
        rows = planner.plan(wanted, default_action, default_reason, default_handoff)
    return Plan(
        actor=who.email,
        actor_id=who.user_id,
        created_at=iso(at),
        source=label,
        options={
            "group": scope.group_id if scope is not None else None,
            "action": default_action,
            "reason": default_reason,
            "handoff": default_handoff,
        },
        rows=rows,
    )


def _default_handoff(handoff: str | None) -> str | None:
    from ..errors import BadInput
    from ..handoff import AUTO, CANCEL, normalise_handoff

    value = normalise_handoff(handoff)
    if value not in (None, AUTO, CANCEL):
        raise BadInput(
            f"{handoff!r}: the plan's default hand-off is auto or cancel (name a successor "
            "in the input's handoff column)",
            column="--handoff",
        )
    return value


class _Planner:
    """Matches targets to memberships with a few chunked queries, then decides in memory."""

    def __init__(self, conn: Connection, actor, scope, at: datetime) -> None:
        self.conn = conn
        self.actor = actor
        self.scope = scope
        self.at = at

    def plan(
        self, targets: list[Target], action: str, reason: str | None, handoff: str | None = None
    ) -> list[PlanRow]:
        """Plan rows for ``targets``, a slice at a time so that a million targets never
        have their users, memberships and states in memory all at once."""
        self.authority = manageable_groups(self.conn, self.actor.user_id)
        self.groups: dict[str, Any] = {}  # by id and by name, as met
        self.names: dict[str, str] = {}
        self.lockout: dict[str, tuple] = {}  # group id -> what it lacks (R4)
        self.first_row: dict[int, int] = {}  # membership id -> first plan row naming it
        self.handoffs: list[str | None] = []  # each plan row's own hand-off, if any
        rows: list[PlanRow] = []
        for part in chunks(targets, PLAN_SLICE):
            rows.extend(self._plan_slice(part, action, reason, start=len(rows) + 1))
        # the hand-off is proposed for the whole plan at once: no two rows collide
        for row, target_handoff in zip(rows, self.handoffs, strict=True):
            if row.action == "deactivate":
                row.handoff = target_handoff or handoff
        if any(row.handoff for row in rows):
            from .handoff import plan_handoffs

            plan_handoffs(self.conn, rows, self.at)
        return rows

    def _plan_slice(
        self, targets: Sequence[Target], action: str, reason: str | None, *, start: int
    ) -> list[PlanRow]:
        conn = self.conn
        keys = list(map(email_key, [t.email for t in targets]))  # R11, once a target
        people = self._people(set(keys))
        self._groups({t.group for t in targets if t.group} - self.groups.keys())
        self._group_names({g for _, mine in people.values() for g in mine} - self.names.keys())
        names, ok, scope, groups = self.names, self.authority.ok, self.scope, self.groups

        # 1. expand each target to (target, membership or a not-found message); a
        # membership carries its user's email, name and id
        expanded: list[tuple[Target, _Member | None, str | None]] = []
        add = expanded.append
        for target, key in zip(targets, keys, strict=True):
            found = people.get(key)
            if found is None:
                add((target, None, f"no user with email {target.email!r}"))
                continue
            user, mine = found
            if target.group:
                grp = groups.get(target.group)
                if grp is None:
                    add((target, None, f"no group with id or name {target.group!r}"))
                elif scope is not None and grp.group_id != scope.group_id:
                    message = f"{grp.name} is outside the plan's group ({scope.name})"
                    add((target, None, message))
                elif (member := mine.get(grp.group_id)) is None:
                    add((target, None, f"{user.email} is not a member of {grp.name}"))
                else:
                    add((target, member, None))
                continue
            if scope is not None:
                member = mine.get(scope.group_id)
                if member is None:
                    message = f"{user.email} is not a member of {scope.name}"
                    add((target, None, message))
                else:
                    add((target, member, None))
                continue
            if not mine:
                add((target, None, f"{user.email} is not a member of any group"))
                continue
            # every active membership the actor may manage; if there is none, show
            # every membership with the reason it cannot be planned
            every = list(mine.values())
            chosen = [m for m in every if m.status == "active" and m.group_id in ok] or every
            for member in sorted(chosen, key=lambda m: (names[m.group_id], m.group_id)):
                add((target, member, None))

        members = [member for _, member, _ in expanded if member is not None]
        states = read_states(conn, [m.membership_id for m in members], self.at)
        new_groups = {m.group_id for m in members} - self.lockout.keys()
        self.lockout.update(
            (group_id, lockout_lacks(counts))
            for group_id, counts in lockout_counts(conn, new_groups).items()
        )

        # 2. one plan row per expansion, with the first blocker that applies
        rows: list[PlanRow] = []
        first_row, lockout, intern = self.first_row, self.lockout, sys.intern
        handoffs = self.handoffs
        for number, (target, member, missing) in enumerate(expanded, start=start):
            row_action = target.action or action
            handoffs.append(target.handoff)
            if member is None:
                row = PlanRow(
                    row=number,
                    line=target.line,
                    email=target.email.strip(),
                    action=row_action,
                    reason=target.reason or reason,
                    blocker="not_found",
                    message=missing,
                )
                rows.append(row)
                continue
            mid, group_id = member.membership_id, member.group_id
            state = states[mid]
            # one constructor call with every field: this runs once per planned member
            row = PlanRow(
                number,
                target.line,
                member.email,
                row_action,
                intern(group_id),
                names[group_id],
                member.name,
                state.access_level,
                target.reason or reason,
                None,
                None,
                state.pending,
                state.open_sessions if row_action == "deactivate" else 0,
                state.future_appointments,
                member.user_id,
                state.fingerprint,
            )
            rows.append(row)
            first = first_row.setdefault(mid, number)
            blocker = self._blocker(
                row, state, first if first != number else None, lockout[group_id]
            )
            if blocker is not None:
                row.blocker, row.message = blocker
        return rows

    def _blocker(
        self, row: PlanRow, state: State, first: int | None, lockout: tuple
    ) -> tuple[str, str] | None:
        """The first blocker that applies and its message, else None."""
        group = row.group
        if first is not None:
            return "duplicate", f"duplicate of row {first}"
        if row.group_id not in self.authority.ok:  # R1
            what = f"offboard members of {group}"
            lack = self.authority.lack(row.group_id)
            return "not_authorised", not_authorised(self.actor.email, what, lack)
        if state.status != "active":
            return "already_inactive", f"{row.email} is already inactive in {group}"
        if row.action == "read_only" and state.read_only:
            return "already_read_only", f"{row.email} is already read-only in {group}"
        if state.access_level == s.FULL:  # R3
            what = "deactivated" if row.action == "deactivate" else "made read-only"
            return "full_access", full_access_refusal(str(row.email), str(group), cannot_be=what)
        # R3 keeps Full Access members out of every plan, so what is left after the plan
        # is what is there now: a group already without one is locked (R4)
        if lockout:
            return "would_lock_out", lockout_refusal(str(group), lockout[0])
        return None

    def _people(self, keys: set[str]) -> dict[str, tuple[_Member, dict[str, _Member]]]:
        """The users with these email keys and their memberships, in one query: by email
        key, a row of the user (its membership's columns None when it has none) and the
        user's memberships by group id."""
        u = s.users.c
        people: dict[str, tuple[_Member, dict[str, _Member]]] = {}
        columns = (
            _m.membership_id,
            _m.group_id,
            _m.status,
            u.user_id,
            u.email,
            u.name,
            u.email_key,
        )
        make = _Member._make
        for chunk in chunks(sorted(keys)):
            query = (
                select(*columns)
                .select_from(s.users.outerjoin(s.memberships, _m.user_id == u.user_id))
                .where(in_values(self.conn, u.email_key, chunk))
            )
            for row in self.conn.execute(query).all():
                member = make(row)
                found = people.get(member.email_key)
                if found is None:
                    found = people[member.email_key] = (member, {})
                if member.membership_id is not None:
                    found[1][member.group_id] = member
        return people

    def _groups(self, refs: set[str]) -> None:
        g = s.groups.c
        for chunk in chunks(sorted(refs)):
            query = select(g.group_id, g.name).where(
                in_values(self.conn, g.group_id, chunk) | in_values(self.conn, g.name, chunk)
            )
            for group_id, name in self.conn.execute(query):
                grp = _Group(group_id, name)
                self.groups.setdefault(name, grp)
                self.groups[group_id] = grp  # an id wins over another group's name

    def _group_names(self, group_ids: set[str]) -> None:
        for chunk in chunks(sorted(group_ids)):
            query = select(s.groups.c.group_id, s.groups.c.name).where(
                in_values(self.conn, s.groups.c.group_id, chunk)
            )
            self.names.update({gid: sys.intern(name) for gid, name in self.conn.execute(query)})
