"""A member's state as a plan row shows it and apply checks it: the columns read, the
pending checklist items, and the fingerprint that tells apply a row went stale.

The fingerprint hashes the member's status, access level, read-only flag, ownership,
open-session count and which checklist items are pending. Future appointments are
shown but not fingerprinted: they are advisory, and the clock alone changes them; a row
with a hand-off has its fingerprint extended over the moves it would make
(``offboard.handoff.with_handoff``).
"""

from __future__ import annotations

import functools
import hashlib
import sys
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, func, select

from .. import schema as s
from ..checklist import future_appointments_count, pending_conditions
from ..db import in_values
from .bulk import chunks


def state_columns(m, at: datetime, *, appointments: bool = True, packed: bool = False) -> list:
    """What a plan row shows and fingerprints about the membership row ``m`` (apply
    leaves out the future appointments: they are shown, not fingerprinted, and takes
    the pending items ``packed`` into one bit mask, ``pending_mask``)."""
    c = s.sessions.c
    open_sessions = (
        select(func.count())
        .select_from(s.sessions)
        .where(c.group_id == m.c.group_id, c.user_id == m.c.user_id, c.revoked_at.is_(None))
        .scalar_subquery()
    )
    return [
        m.c.membership_id,
        m.c.group_id,
        m.c.user_id,
        m.c.status,
        m.c.access_level,
        m.c.read_only,
        m.c.account_owner,
        open_sessions.label("open_sessions"),
        *([future_appointments_count(m, at).label("future_appointments")] if appointments else []),
        *(
            [
                typing.cast(
                    ColumnElement[int],
                    sum(
                        case((cond, 1 << bit), else_=0)
                        for bit, cond in enumerate(pending_conditions(m).values())
                    ),
                ).label("pending_mask")
            ]
            if packed
            else [cond.label(f"pending_{item}") for item, cond in pending_conditions(m).items()]
        ),
    ]


PENDING_ITEMS = tuple(pending_conditions().keys())
_PENDING_LABELS = tuple(f"pending_{item}" for item in PENDING_ITEMS)
# pending_mask -> the pending items (bit i: PENDING_ITEMS[i])
PENDING_BY_MASK = tuple(
    tuple(item for bit, item in enumerate(PENDING_ITEMS) if mask >> bit & 1)
    for mask in range(1 << len(PENDING_ITEMS))
)


@dataclass(frozen=True, slots=True)
class State:
    """A member's state, not the member: members in the same state may share one."""

    status: str
    access_level: str
    read_only: bool
    account_owner: bool
    open_sessions: int
    future_appointments: int
    pending: tuple[str, ...]

    @classmethod
    def of(cls, row: Any) -> State:
        mapping = row._mapping
        return cls(
            status=row.status,
            access_level=row.access_level,
            read_only=bool(row.read_only),
            account_owner=bool(row.account_owner),
            open_sessions=int(row.open_sessions or 0),
            future_appointments=int(mapping.get("future_appointments") or 0),
            pending=(
                PENDING_BY_MASK[int(mapping["pending_mask"])]
                if "pending_mask" in mapping
                else tuple(
                    k
                    for k, label in zip(PENDING_ITEMS, _PENDING_LABELS, strict=True)
                    if mapping[label]
                )
            ),
        )

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(
            self.status,
            self.access_level,
            self.read_only,
            self.account_owner,
            self.open_sessions,
            self.pending,
        )


@functools.lru_cache(maxsize=4096)
def fingerprint_of(
    status: str,
    access_level: str,
    read_only: bool,
    account_owner: bool,
    open_sessions: int,
    pending: tuple[str, ...],
) -> str:
    """The hash of what a plan row was planned on. Few members differ in all of it,
    so the hash of each combination is computed once."""
    text = "|".join(
        [
            status,
            access_level,
            str(int(read_only)),
            str(int(account_owner)),
            str(open_sessions),
            ",".join(pending),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_states(conn: Connection, membership_ids: Sequence[int], at: datetime) -> dict[int, State]:
    """Each member's state, by membership id. Members in the same state share one
    ``State``: a plan of 100,000 members holds a few hundred distinct states, so each
    is built (and its pending items decoded) once, not once a member."""
    m = s.memberships
    found: dict[int, State] = {}
    alike: dict[tuple, State] = {}
    for chunk in chunks(sorted(membership_ids)):
        query = select(*state_columns(m, at, packed=True)).where(
            in_values(conn, s.memberships.c.membership_id, chunk)
        )
        # by position (state_columns' order): this runs once per planned member
        for row in conn.execute(query).all():
            values = row[3:]  # status, level, read-only, owner, sessions, future, pending
            state = alike.get(values)
            if state is None:
                status, level, read_only, owner, sessions, future, mask = values
                state = alike[values] = State(
                    status=status,
                    access_level=sys.intern(level),  # shared by the plan's rows
                    read_only=bool(read_only),
                    account_owner=bool(owner),
                    open_sessions=int(sessions or 0),
                    future_appointments=int(future or 0),
                    pending=PENDING_BY_MASK[int(mask)],
                )
            found[row[0]] = state
    return found
