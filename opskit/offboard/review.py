"""Four-eyes review of bulk plans (docs/rules.md 9.2).

An approval binds a second operator to exactly one plan content: the sha256 of the
plan as opskit re-serialises it (``Plan.to_stored``), so a plan edited after its
approval has another digest and needs a new approval. The approver is not the plan's
maker and has Full Access (R1) in every group the plan changes. In bound mode
``apply_plan`` calls ``require_approval`` before it starts a run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from .. import schema as s
from ..clock import iso, now
from ..db import Database
from ..errors import NotAuthorized, Refused
from ..identity import acting_user, bound, current_login
from ..rules import email_key, manageable_groups, not_authorised
from ..schema import Action
from .plan import Plan

_a = s.plan_approvals.c


def plan_digest(plan: Plan) -> str:
    """The digest of a plan's canonical content."""
    return hashlib.sha256(plan.to_stored().encode()).hexdigest()


def _maker_id(conn: Connection, plan: Plan) -> str | None:
    """The plan's maker as a user id: its ``actor_id``, else its actor's email's user."""
    if plan.actor_id:
        return plan.actor_id
    key = email_key(plan.actor)
    return conn.execute(select(s.users.c.user_id).where(s.users.c.email_key == key)).scalar()


def approve_plan(db: Database, plan: Plan | str | Path, *, actor: str | None = None) -> dict:
    """Approve exactly this plan's content as the current operator (audited
    ``plan_approved``, one event per group the plan changes). Returns ``plan`` (the
    digest), ``approved_by``, ``approved_at`` and ``groups``."""
    from ..audit import event_row, record_many

    if not isinstance(plan, Plan):
        plan = Plan.load(plan)
    digest = plan_digest(plan)
    groups = sorted({row.group_id for row in plan.to_apply if row.group_id})
    with db.begin() as conn:
        who = acting_user(conn, actor)
        maker = _maker_id(conn, plan)
        if who.user_id == maker or email_key(who.email) == email_key(plan.actor):
            raise NotAuthorized(
                f"{who.email} made this plan and may not approve it: a second operator must"
            )
        authority = manageable_groups(conn, who.user_id, groups)
        names = dict(
            conn.execute(
                select(s.groups.c.group_id, s.groups.c.name).where(s.groups.c.group_id.in_(groups))
            ).all()
        )
        for group_id in groups:
            if group_id not in authority.ok:  # R1, in every group the plan changes
                what = f"approve a plan that changes {names.get(group_id, group_id)}"
                raise NotAuthorized(not_authorised(who.email, what, authority.lack(group_id)))
        at = now()
        already = conn.execute(
            select(_a.approved_at).where(_a.plan == digest, _a.approved_by == who.user_id)
        ).scalar()
        if already is None:
            approval = {
                "plan": digest,
                "approved_by": who.user_id,
                "planned_by": maker or plan.actor,
                "approved_at": at,
            }
            if conn.dialect.name != "postgresql":  # PostgreSQL: session_user, by default
                approval["login"] = current_login(conn).login
            conn.execute(insert(s.plan_approvals).values(**approval))
            record_many(
                conn,
                [
                    event_row(
                        at=at,
                        actor_id=who.user_id,
                        group_id=group_id,
                        user_id=maker or "",
                        action=Action.PLAN_APPROVED,
                        after={"plan": digest, "rows": len(plan.to_apply)},
                    )
                    for group_id in groups or [""]
                ],
            )
    return {
        "plan": digest,
        "approved_by": who.email,
        "approved_at": iso(already or at),
        "groups": len(groups),
        "outcome": "unchanged" if already is not None else "approved",
    }


def approvals(db: Database, plan: Plan) -> list[dict[str, Any]]:
    """Who approved exactly this plan's content."""
    query = (
        select(s.users.c.email.label("approved_by"), _a.approved_at, _a.login)
        .join(s.users, s.users.c.user_id == _a.approved_by)
        .where(_a.plan == plan_digest(plan))
        .order_by(_a.approved_at)
    )
    with db.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row["approved_at"] = iso(row["approved_at"])
    return rows


def require_approval(db: Database, plan: Plan) -> None:
    """Bound mode: refuse a plan without an approval of exactly its content by an
    operator other than its maker. Unbound mode: nothing to check."""
    with db.read() as conn:
        if not bound(conn):
            return
        maker = _maker_id(conn, plan)
        # an approval counts when the login that wrote it is mapped to its approver:
        # a row written by hand for someone else's name does not
        o = s.operators.c
        approvers = conn.execute(
            select(_a.approved_by)
            .join(s.operators, (o.login == _a.login) & (o.user_id == _a.approved_by))
            .where(_a.plan == plan_digest(plan))
        ).scalars()
        if any(approver != maker for approver in approvers):
            return
    raise Refused(
        "this plan has no approval of exactly its content by a second operator "
        "('opskit offboard approve PLAN'; a plan edited after approval needs a new one)"
    )
