"""Who and what an action is about, and the guards every write shares (R1, R4, R11).

These helpers take an open connection inside the caller's transaction and never
commit. Lookups raise ``BadInput`` subclasses; guards raise ``Refused`` subclasses.
"""

from __future__ import annotations

from sqlalchemy import Connection, Row, func, or_, select

from . import schema as s
from .errors import NotAuthorized, UnknownGroup, UnknownMember, UnknownUser, WouldLockOutGroup


def email_key(email: str) -> str:
    """R11: emails match case-insensitively, surrounding whitespace ignored."""
    return (email or "").strip().lower()


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


def can_manage(member: Row | None) -> bool:
    """R1: an active, non-read-only Full Access member may manage the group."""
    return (
        member is not None
        and member.status == "active"
        and member.access_level == s.FULL
        and not member.read_only
    )


def require_manager(conn: Connection, group: Row, actor: Row, *, doing: str) -> Row:
    """R1, or raise ``NotAuthorized`` naming what the actor lacks."""
    member = conn.execute(
        select(s.memberships).where(
            s.memberships.c.group_id == group.group_id,
            s.memberships.c.user_id == actor.user_id,
        )
    ).first()
    if not can_manage(member):
        if member is None:
            lacks = "is not a member of the group"
        elif member.status != "active":
            lacks = "is inactive there"
        elif member.read_only:
            lacks = "is read-only there"
        else:
            lacks = "does not have Full Access there"
        raise NotAuthorized(
            f"{actor.email} may not {doing} in {group.name}: {lacks} "
            "(only an active Full Access member may)"
        )
    return member


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


def lockout_counts(conn: Connection, group_id: str) -> tuple[int, int]:
    """Active Full Access members and active account owners of a group."""
    m = s.memberships.c
    active = (m.group_id == group_id) & (m.status == "active")
    full = func.count().filter(m.access_level == s.FULL)
    owners = func.count().filter(m.account_owner.is_(True))
    row = conn.execute(select(full, owners).where(active)).one()
    return int(row[0]), int(row[1])


def guard_not_locked_out(conn: Connection, group: Row, *, change: str) -> None:
    """R4: refuse (and so roll back) a change that left the group without
    an active Full Access member or without an active account owner."""
    full, owners = lockout_counts(conn, group.group_id)
    if full == 0:
        raise WouldLockOutGroup(
            f"refused: {change} would leave {group.name} with no active Full Access member"
        )
    if owners == 0:
        raise WouldLockOutGroup(
            f"refused: {change} would leave {group.name} with no active account owner"
        )
