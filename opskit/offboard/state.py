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


@functools.lru_cache(maxsize=64)
def _pending_items(flags: tuple[bool, ...]) -> tuple[str, ...]:
    """The pending items named by their flags (one shared tuple per combination)."""
    return tuple(item for item, flag in zip(PENDING_ITEMS, flags, strict=True) if flag)


@dataclass(frozen=True, slots=True)
class State:
    membership_id: int
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
            membership_id=row.membership_id,
            status=row.status,
            access_level=row.access_level,
            read_only=bool(row.read_only),
            account_owner=bool(row.account_owner),
            open_sessions=int(row.open_sessions or 0),
            future_appointments=int(mapping.get("future_appointments") or 0),
            pending=(
                PENDING_BY_MASK[int(mapping["pending_mask"])]
                if "pending_mask" in mapping
                else _pending_items(tuple(bool(mapping[k]) for k in _PENDING_LABELS))
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
    m = s.memberships
    found: dict[int, State] = {}
    for chunk in chunks(sorted(membership_ids)):
        query = select(*state_columns(m, at)).where(
            in_values(conn, s.memberships.c.membership_id, chunk)
        )
        # unpacked by position (state_columns' order): this runs once per planned member
        for mid, _, _, status, level, read_only, owner, sessions, future, *flags in conn.execute(
            query
        ):
            found[mid] = State(
                membership_id=mid,
                status=status,
                access_level=level,
                read_only=bool(read_only),
                account_owner=bool(owner),
                open_sessions=int(sessions or 0),
                future_appointments=int(future or 0),
                pending=_pending_items(tuple(map(bool, flags))),
            )
    return found
