"""The single-member lifecycle: deactivate, reactivate, change access, sign in.

Each public function is an entry point: it owns one transaction, checks the rules
in a fixed order (who may act, idempotence, Full Access, lock-out), makes the change
conditional on the state it read, and writes the audit event in that same
transaction. ``actor`` is keyword-only and required, so every change says who did it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, and_, func, insert, select, tuple_, update

from . import schema as s
from .audit import record
from .clock import iso, now
from .db import Database, in_values, members_table
from .errors import BadInput, FullAccessMember, NotAuthorized, Refused, SignInRefused
from .identity import acting_user
from .rules import (
    find_group,
    find_member,
    find_user,
    full_access_refusal,
    guard_not_locked_out,
    has_other_active_membership,
    lock_group,
    require_manager,
)
from .schema import Action


@dataclass
class ActionResult:
    """What one lifecycle call did to one membership."""

    group_id: str
    group: str
    user_id: str
    email: str
    name: str
    outcome: str  # deactivated, reactivated, changed, unchanged
    status: str
    access_level: str
    read_only: bool
    account_owner: bool
    sessions_revoked: int = 0
    checklist: list[dict[str, Any]] = field(default_factory=list)
    # the hand-off (--handoff): appointment_id, starts_at, outcome, to; and patient_id
    # and group_id, for the front desk's CSV
    appointments: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _DryRun(Exception):
    """Raised inside a transaction to roll back a dry run after computing its result."""

    def __init__(self, result: ActionResult) -> None:
        self.result = result


def _result(group: Row, user: Row, member: Row, outcome: str, **extra: Any) -> ActionResult:
    return ActionResult(
        group_id=group.group_id,
        group=group.name,
        user_id=user.user_id,
        email=user.email,
        name=user.name,
        outcome=outcome,
        status=member.status,
        access_level=member.access_level,
        read_only=bool(member.read_only),
        account_owner=bool(member.account_owner),
        **extra,
    )


def _reload(conn: Connection, member: Row) -> Row:
    return conn.execute(
        select(s.memberships).where(s.memberships.c.membership_id == member.membership_id)
    ).one()


def _open_sessions(group_id: str, user_id: str):
    c = s.sessions.c
    return and_(c.group_id == group_id, c.user_id == user_id, c.revoked_at.is_(None))


# ------------------------------------------------------------ the shared state changes
# One implementation of each change a member's row goes through, called with one id by
# the verbs below and with a batch of ids by bulk offboarding. Each is conditional on the
# state the change starts from and returns how many rows it changed, so that the caller
# can tell a race lost (fewer rows) from a change made and audit only what it changed.


def _status_is(status: str):
    """``status = :status`` written so that no index can serve it: a batch names its
    members by id, and SQLite would otherwise walk the status index (every active
    member) for each batch, which makes a bulk run quadratic."""
    return (s.memberships.c.status + "") == status


def _status_change(
    conn: Connection,
    membership_ids: Sequence[int],
    status: str,
    *,
    actor_id: str,
    at,
    reason: str | None,
):
    m = s.memberships.c
    other = "active" if status == "inactive" else "inactive"
    return (
        update(s.memberships)
        .where(in_values(conn, m.membership_id, membership_ids), _status_is(other))
        .values(
            status=status, status_changed_at=at, status_changed_by=actor_id, status_reason=reason
        )
    )


def set_status(conn: Connection, membership_ids: Sequence[int], status: str, **change) -> int:
    """Flip memberships to ``status``, only those that still have the other one;
    returns how many changed. ``change``: ``actor_id``, ``at`` and ``reason``.

    The condition makes the change race-safe: of two analysts at once, one changes the
    row and writes the audit event, the other sees no row changed and writes nothing.
    """
    if not membership_ids:
        return 0
    return conn.execute(_status_change(conn, membership_ids, status, **change)).rowcount


def set_status_returning(
    conn: Connection, membership_ids: Sequence[int], status: str, **change
) -> set[int]:
    """``set_status``, returning which memberships changed (undo audits exactly those)."""
    if not membership_ids:
        return set()
    statement = _status_change(conn, membership_ids, status, **change)
    return set(conn.execute(statement.returning(s.memberships.c.membership_id)).scalars())


def revoke_sessions(conn: Connection, membership_ids: Sequence[int], *, at) -> int:
    """Sign members out of their group on every device (R5); returns how many sessions."""
    if not membership_ids:
        return 0
    c = s.sessions.c
    with members_table(conn, membership_ids, name="signed_out") as members:
        of_members = select(members.c.group_id, members.c.user_id)
        return conn.execute(
            update(s.sessions)
            .where(tuple_(c.group_id, c.user_id).in_(of_members), c.revoked_at.is_(None))
            .values(revoked_at=at)
        ).rowcount


def make_read_only(conn: Connection, membership_ids: Sequence[int]) -> int:
    """Make active members below Full Access read-only (R8); returns how many changed."""
    if not membership_ids:
        return 0
    m = s.memberships.c
    return conn.execute(
        update(s.memberships)
        .where(
            in_values(conn, m.membership_id, membership_ids),
            _status_is("active"),
            m.read_only.is_(False),
            m.access_level != s.FULL,
        )
        .values(read_only=True)
    ).rowcount


def lift_read_only(conn: Connection, membership_ids: Sequence[int]) -> set[int]:
    """Lift read-only from members that have it; returns which changed."""
    if not membership_ids:
        return set()
    m = s.memberships.c
    return set(
        conn.execute(
            update(s.memberships)
            .where(in_values(conn, m.membership_id, membership_ids), m.read_only.is_(True))
            .values(read_only=False)
            .returning(m.membership_id)
        ).scalars()
    )


def _run(db: Database, dry_run: bool, work) -> ActionResult:
    try:
        with db.begin() as conn:
            result = work(conn)
            if dry_run:
                result.dry_run = True
                raise _DryRun(result)
            return result
    except _DryRun as rolled_back:
        return rolled_back.result


def deactivate(
    db: Database,
    email: str,
    group: str,
    *,
    actor: str | None = None,
    reason: str | None = None,
    resolve_checklist: bool = False,
    handoff: str | None = None,
    dry_run: bool = False,
) -> ActionResult:
    """Deactivate one membership (R1-R6, R10).

    The member is signed out of the group on every device in the same transaction;
    nothing else is deleted. ``handoff`` (``auto``, ``cancel`` or a successor's email)
    hands their future appointments in the group off in that transaction too, all or
    nothing (``handoff``). ``dry_run`` does all of it and rolls back, so what it
    reports is exactly what would change.
    """
    if handoff is not None:
        from .handoff import normalise_handoff

        handoff = normalise_handoff(handoff)

    def work(conn: Connection) -> ActionResult:
        grp = find_group(conn, group)
        who = acting_user(conn, actor)
        target = find_user(conn, email)
        lock_group(conn, grp.group_id)
        member = find_member(conn, grp, target, lock=True)
        _authorise_deactivation(conn, grp, who, target)
        if member.status == "inactive":  # R6
            return _result(grp, target, member, "unchanged", message="already inactive")
        if member.access_level == s.FULL:  # R3
            raise FullAccessMember(full_access_refusal(target.email, grp.name))
        at = now()
        moves = _propose_handoff(conn, grp, target, handoff, at)
        checklist_rows: list[dict[str, Any]] = []
        if resolve_checklist:
            from .checklist import resolve_for_deactivation

            checklist_rows = resolve_for_deactivation(conn, member, actor_id=who.user_id, at=at)
        ids = [member.membership_id]
        changed = set_status(conn, ids, "inactive", actor_id=who.user_id, at=at, reason=reason)
        if not changed:  # someone else got there first: no second event (R6)
            return _result(grp, target, _reload(conn, member), "unchanged")
        revoked = revoke_sessions(conn, ids, at=at)
        guard_not_locked_out(conn, grp, change=f"deactivating {target.email}")
        record(
            conn,
            at=at,
            actor_id=who.user_id,
            group_id=grp.group_id,
            user_id=target.user_id,
            action=Action.DEACTIVATED,
            before={"status": "active"},
            after={"status": "inactive", "sessions_revoked": revoked},
            reason=reason,
        )
        if moves:
            from .handoff import apply_moves

            apply_moves(conn, moves, actor_id=who.user_id, at=at, reason=reason)
        if not resolve_checklist:
            checklist_rows = _checklist_of(conn, member)
        return _result(
            grp,
            target,
            _reload(conn, member),
            "deactivated",
            sessions_revoked=revoked,
            checklist=checklist_rows,
            appointments=[move.for_front_desk() for move in moves],
        )

    return _run(db, dry_run, work)


def _propose_handoff(conn: Connection, grp: Row, target: Row, handoff: str | None, at) -> list:
    """The hand-off's moves for one leaver, or ``NoSuccessor`` naming what cannot be
    placed (the whole deactivation is refused)."""
    if handoff is None:
        return []
    from .handoff import Leaver, NoSuccessor, propose, refusal

    (proposal,) = propose(conn, [Leaver(grp.group_id, target.user_id, handoff)], at=at)
    if not proposal.placed:
        raise NoSuccessor(refusal(target.email, grp.name, str(proposal.problem)))
    return proposal.moves


def _checklist_of(conn: Connection, member: Row) -> list[dict[str, Any]]:
    """The member's checklist rows, once the checklist module is there."""
    try:
        from .checklist import evaluate_members
    except ImportError:
        return []
    return evaluate_members(conn, [member.membership_id])


def _authorise_deactivation(conn: Connection, grp: Row, who: Row, target: Row) -> None:
    """R1, or R2: a member leaving deactivates their own membership."""
    if who.user_id == target.user_id:
        if has_other_active_membership(conn, grp.group_id, target.user_id):
            return
        try:
            require_manager(conn, grp, who, doing="deactivate members")
        except NotAuthorized:
            raise NotAuthorized(
                f"{who.email} may deactivate their own membership of {grp.name} only while "
                "active in another group (or with Full Access there)"
            ) from None
        return
    require_manager(conn, grp, who, doing="deactivate members")


def reactivate(
    db: Database,
    email: str,
    group: str,
    *,
    actor: str | None = None,
    reason: str | None = None,
    restore_settings: bool = False,
    dry_run: bool = False,
) -> ActionResult:
    """Reactivate one membership with the access and settings it had (R7).

    Sessions stay revoked: the member signs in again. ``restore_settings`` puts back
    what checklist resolution switched off, from its snapshot.
    """

    def work(conn: Connection) -> ActionResult:
        grp = find_group(conn, group)
        who = acting_user(conn, actor)
        target = find_user(conn, email)
        lock_group(conn, grp.group_id)
        member = find_member(conn, grp, target, lock=True)
        require_manager(conn, grp, who, doing="reactivate members")
        at = now()
        restored: list[dict[str, Any]] = []
        if member.status == "active":  # R6
            outcome = "unchanged"
        else:
            changed = set_status(
                conn, [member.membership_id], "active", actor_id=who.user_id, at=at, reason=reason
            )
            outcome = "reactivated" if changed else "unchanged"
            if changed:
                record(
                    conn,
                    at=at,
                    actor_id=who.user_id,
                    group_id=grp.group_id,
                    user_id=target.user_id,
                    action=Action.REACTIVATED,
                    before={"status": "inactive"},
                    after={"status": "active"},
                    reason=reason,
                )
        if restore_settings:
            from .checklist import restore_member_settings

            restored = restore_member_settings(conn, member, actor_id=who.user_id, at=at)
        return _result(
            grp,
            target,
            _reload(conn, member),
            outcome,
            checklist=restored,
            message="sessions stay signed out; the member signs in again"
            if outcome == "reactivated"
            else ("already active" if outcome == "unchanged" else ""),
        )

    return _run(db, dry_run, work)


def change_access(
    db: Database,
    email: str,
    group: str,
    *,
    actor: str | None = None,
    level: str | None = None,
    read_only: bool | None = None,
    owner: bool | None = None,
    dry_run: bool = False,
) -> ActionResult:
    """Change a member's access level, read-only flag or account ownership (R1, R4, R8).

    The role never changes (R9). Read-only and ownership follow the level: read-only
    only below Full Access, an owner only with Full Access.
    """

    def work(conn: Connection) -> ActionResult:
        grp = find_group(conn, group)
        who = acting_user(conn, actor)
        target = find_user(conn, email)
        lock_group(conn, grp.group_id)
        member = find_member(conn, grp, target, lock=True)
        require_manager(conn, grp, who, doing="change access")
        before = {
            "access_level": member.access_level,
            "read_only": bool(member.read_only),
            "account_owner": bool(member.account_owner),
        }
        after = dict(before)
        if level is not None:
            wanted = level.strip().lower()
            allowed = s.LEVELS[member.role]
            if wanted not in allowed:
                raise BadInput(
                    f"{level!r} is not an access level for {_article(member.role)} "
                    f"{member.role} ({', '.join(allowed)})",
                    column="--level",
                )
            after["access_level"] = wanted
        if read_only is not None:
            after["read_only"] = read_only
        if owner is not None:
            after["account_owner"] = owner
        if after == before:  # R6
            return _result(grp, target, member, "unchanged", message="nothing to change")
        _check_access_combination(target, grp, before, after)
        conn.execute(
            update(s.memberships)
            .where(s.memberships.c.membership_id == member.membership_id)
            .values(**after)
        )
        guard_not_locked_out(conn, grp, change=f"changing the access of {target.email}")
        record(
            conn,
            at=now(),
            actor_id=who.user_id,
            group_id=grp.group_id,
            user_id=target.user_id,
            action=Action.ACCESS_CHANGED,
            before={k: v for k, v in before.items() if after[k] != v},
            after={k: v for k, v in after.items() if before[k] != v},
        )
        return _result(grp, target, _reload(conn, member), "changed")

    return _run(db, dry_run, work)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _check_access_combination(target: Row, grp: Row, before: dict, after: dict) -> None:
    full = after["access_level"] == s.FULL
    if after["read_only"] and full:  # R8
        if before["access_level"] == s.FULL:
            raise FullAccessMember(
                full_access_refusal(target.email, grp.name, cannot_be="read-only")
            )
        raise FullAccessMember(
            f"{target.email} is read-only in {grp.name}; Full Access cannot be read-only, "
            "so turn read-only off as well (--no-read-only)"
        )
    if after["account_owner"] and not full:
        if before["account_owner"]:
            raise Refused(
                f"{target.email} is the account owner of {grp.name}; an owner keeps Full "
                "Access, so pass the ownership to another Full Access member first (--no-owner)"
            )
        raise Refused(
            f"only a Full Access member can be the account owner; raise {target.email} "
            "to Full Access first"
        )


@dataclass
class SignIn:
    group_id: str
    group: str
    email: str
    session_id: str
    device: str
    started_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sign_in(db: Database, email: str, group: str, *, device: str) -> SignIn:
    """The sign-in gate (R5): an active member gets a session; an inactive one is refused."""
    device = (device or "").strip()
    if not device:
        raise BadInput("a device name is required", column="--device")
    with db.begin() as conn:
        grp = find_group(conn, group)
        user = find_user(conn, email)
        # the row lock orders this against a concurrent deactivation of the member
        member = find_member(conn, grp, user, lock=True)
        if member.status != "active":
            raise SignInRefused(
                f"{user.email} is inactive in {grp.name}: sign-in refused "
                "(a Full Access member can reactivate them)"
            )
        at = now()
        session_id = uuid.uuid4().hex
        conn.execute(
            insert(s.sessions).values(
                session_id=session_id,
                group_id=grp.group_id,
                user_id=user.user_id,
                device=device,
                started_at=at,
            )
        )
        conn.execute(
            update(s.memberships)
            .where(s.memberships.c.membership_id == member.membership_id)
            .values(last_sign_in_at=at)
        )
    return SignIn(grp.group_id, grp.name, user.email, session_id, device, iso(at))


def open_session_count(conn: Connection, group_id: str, user_id: str) -> int:
    return conn.execute(
        select(func.count()).select_from(s.sessions).where(_open_sessions(group_id, user_id))
    ).scalar_one()
