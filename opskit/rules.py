"""Who and what an action is about, and the rules every write shares (R1, R3, R4, R11).

Each rule has one implementation here, in a set-based form that the single-member
verbs (``lifecycle``) call with one group or member and bulk offboarding with many,
and its refusal text is made here too.

These helpers take an open connection inside the caller's transaction and never
commit. Lookups raise ``BadInput`` subclasses; guards raise ``Refused`` subclasses.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Connection, Row, func, or_, select, text

from . import schema as s
from .errors import NotAuthorized, UnknownGroup, UnknownMember, UnknownUser, WouldLockOutGroup


def email_key(email: str) -> str:
    """R11: emails match case-insensitively, surrounding whitespace ignored, and in
    Unicode's composed form (NFC): an 'é' typed as 'e' plus an accent is the same 'é'."""
    return unicodedata.normalize("NFC", (email or "").strip()).lower()


def mixed_script_part(email: str) -> str | None:
    """The part of an email (the local part or a domain label) whose letters come from
    more than one script, like a Cyrillic 'а' among Latin letters: a lookalike of
    another address. None when every part keeps to one script."""
    text = unicodedata.normalize("NFC", (email or "").strip())
    if text.isascii():
        return None
    local, _, domain = text.partition("@")
    for part in (local, *domain.split(".")):
        scripts = {_script(ch) for ch in part if ch.isalpha()}
        if len(scripts) > 1:
            return part
    return None


def _script(letter: str) -> str:
    """A letter's script, as the first word of its Unicode name (LATIN, CYRILLIC, ...)."""
    try:
        return unicodedata.name(letter).split(" ", 1)[0]
    except ValueError:
        return "UNKNOWN"


def find_group(conn: Connection, group: str) -> Row:
    """R11: a group named by id or by exact name."""
    name = (group or "").strip()
    row = conn.execute(
        select(s.groups).where(or_(s.groups.c.group_id == name, s.groups.c.name == name))
    ).first()
    if row is None:
        raise UnknownGroup(f"no group with id or name {group!r}", column="--group")
    return row


def find_user(conn: Connection, email: str, *, option: str = "email") -> Row:
    key = email_key(email)
    row = conn.execute(select(s.users).where(s.users.c.email_key == key)).first()
    if row is None:
        raise UnknownUser(f"no user with email {email.strip()!r}", column=option)
    return row


def find_member(
    conn: Connection, group: Row, user: Row, *, lock: bool = False, option: str = "email"
) -> Row:
    query = select(s.memberships).where(
        s.memberships.c.group_id == group.group_id, s.memberships.c.user_id == user.user_id
    )
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise UnknownMember(f"{user.email} is not a member of {group.name}", column=option)
    return row


def lock_group(conn: Connection, group_id: str) -> None:
    """Serialise writes to one group's members.

    PostgreSQL takes a row lock on the group, so two Full Access members lowering
    each other at once cannot both pass the R4 check (write skew). On SQLite every
    writer already holds the database write lock from BEGIN IMMEDIATE, and
    SQLAlchemy leaves FOR UPDATE out.
    """
    conn.execute(
        select(s.groups.c.group_id).where(s.groups.c.group_id == group_id).with_for_update()
    )


def lock_groups(conn: Connection, group_ids) -> None:
    """Lock several groups, always in the same order so that two runs cannot deadlock
    (PostgreSQL locks the rows as the ORDER BY returns them), a statement per 5,000."""
    ordered = sorted(set(group_ids))
    g = s.groups.c
    for start in range(0, len(ordered), 5000):
        conn.execute(
            select(g.group_id)
            .where(g.group_id.in_(ordered[start : start + 5000]))
            .order_by(g.group_id)
            .with_for_update()
        ).all()


NOT_A_MEMBER = "is not a member of the group"


def can_manage(member: Row | None) -> bool:
    """R1: an active, non-read-only Full Access member may manage the group."""
    return (
        member is not None
        and member.status == "active"
        and member.access_level == s.FULL
        and not member.read_only
    )


def manager_lack(member: Row | None) -> str | None:
    """R1: what a would-be manager lacks in a group (None: nothing, they may act)."""
    if member is None:
        return NOT_A_MEMBER
    if can_manage(member):
        return None
    if member.status != "active":
        return "is inactive there"
    if member.read_only:
        return "is read-only there"
    return "does not have Full Access there"


def not_authorised(actor_email: str, what: str, lack: str) -> str:
    """R1's refusal: ``what`` is the act and the group ("deactivate members in Harbour")."""
    return f"{actor_email} may not {what}: {lack} (only an active Full Access member may)"


@dataclass(frozen=True)
class Authority:
    """R1 over many groups at once: where the actor may act, and elsewhere what they lack."""

    ok: frozenset[str]
    lacks: Mapping[str, str]

    def lack(self, group_id: str | None) -> str:
        return self.lacks.get(group_id or "", NOT_A_MEMBER)


def manageable_groups(
    conn: Connection, actor_id: str, group_ids: Iterable[str] | None = None
) -> Authority:
    """R1, set-based: the groups (of ``group_ids``, or all) where the actor may act."""
    m = s.memberships.c
    query = select(s.memberships).where(m.user_id == actor_id)
    if group_ids is not None:
        query = query.where(m.group_id.in_(sorted(set(group_ids))))
    ok: set[str] = set()
    lacks: dict[str, str] = {}
    for member in conn.execute(query):
        lack = manager_lack(member)
        if lack is None:
            ok.add(member.group_id)
        else:
            lacks[member.group_id] = lack
    return Authority(frozenset(ok), lacks)


def require_manager(conn: Connection, group: Row, actor: Row, *, doing: str) -> Row:
    """R1, or raise ``NotAuthorized`` naming what the actor lacks."""
    member = conn.execute(
        select(s.memberships).where(
            s.memberships.c.group_id == group.group_id,
            s.memberships.c.user_id == actor.user_id,
        )
    ).first()
    lack = manager_lack(member)
    if lack is not None or member is None:
        raise NotAuthorized(not_authorised(actor.email, f"{doing} in {group.name}", str(lack)))
    return member


def full_access_refusal(email: str, group: str, *, cannot_be: str = "deactivated") -> str:
    """R3 (and R8): a Full Access member is never deactivated, made read-only, ..."""
    return (
        f"{email} has Full Access in {group} and cannot be {cannot_be}; "
        "lower their access level first"
    )


def has_other_active_membership(conn: Connection, group_id: str, user_id: str) -> bool:
    """R2: does the user hold an active membership in another group?"""
    return (
        conn.execute(
            select(s.memberships.c.membership_id)
            .where(
                s.memberships.c.user_id == user_id,
                s.memberships.c.group_id != group_id,
                s.memberships.c.status == "active",
            )
            .limit(1)
        ).first()
        is not None
    )


class LockOut(NamedTuple):
    """One thing a group would be left without (R4)."""

    kind: str  # no_full_access_member, no_account_owner
    text: str  # "no active Full Access member", ...


_NO_FULL = LockOut("no_full_access_member", "no active Full Access member")
_NO_OWNER = LockOut("no_account_owner", "no active account owner")


def lockout_counts(
    conn: Connection, group_ids: Iterable[str] | None = None
) -> dict[str, tuple[int, int]]:
    """R4, set-based: per group (of ``group_ids``, or every group), its active Full
    Access members and active account owners; a group with no active member is (0, 0).
    A statement per 5,000 groups.

    An account owner has Full Access (the schema's ``owner_is_full``), so both counts
    come from the active Full Access members alone: the rows of the partial index
    ``ix_memberships_active_full``, whose condition the query states word for word
    (literal values: SQLite uses a partial index only then)."""
    m = s.memberships.c
    owners = func.count().filter(m.account_owner.is_(True))
    query = select(m.group_id, func.count(), owners).where(text(s.ACTIVE_FULL)).group_by(m.group_id)
    if group_ids is None:
        every_group = select(s.groups.c.group_id).order_by(s.groups.c.group_id)
        counts = dict.fromkeys(conn.execute(every_group).scalars(), (0, 0))
        parts = [query]
    else:
        counts = dict.fromkeys(group_ids, (0, 0))
        ordered = sorted(counts)
        parts = [
            query.where(m.group_id.in_(ordered[start : start + 5000]))
            for start in range(0, len(ordered), 5000)
        ]
    for part in parts:
        for group_id, n_full, n_owners in conn.execute(part):
            counts[group_id] = (int(n_full), int(n_owners))
    return counts


def lockout_lacks(counts: tuple[int, int]) -> tuple[LockOut, ...]:
    """What a group with these ``lockout_counts`` lacks, the Full Access member first."""
    full, owners = counts
    if full and owners:
        return ()
    return tuple(lack for lack, n in ((_NO_FULL, full), (_NO_OWNER, owners)) if n == 0)


def locked_out_groups(
    conn: Connection, group_ids: Iterable[str] | None = None
) -> dict[str, tuple[LockOut, ...]]:
    """R4: the groups (of ``group_ids``, or all, by id) left without what R4 requires."""
    found = {}
    for group_id, counts in lockout_counts(conn, group_ids).items():
        lacks = lockout_lacks(counts)
        if lacks:
            found[group_id] = lacks
    return found


def lockout_refusal(group: str, lack: LockOut, *, change: str | None = None) -> str:
    """R4's refusal, naming the change when there is one to name."""
    if change is None:
        return f"refused: {group} would be left with {lack.text}"
    return f"refused: {change} would leave {group} with {lack.text}"


def guard_not_locked_out(conn: Connection, group: Row, *, change: str) -> None:
    """R4: refuse (and so roll back) a change that left the group without
    an active Full Access member or without an active account owner."""
    lacks = lockout_lacks(lockout_counts(conn, [group.group_id])[group.group_id])
    if lacks:
        raise WouldLockOutGroup(lockout_refusal(group.name, lacks[0], change=change))
