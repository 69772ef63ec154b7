"""Dormancy policy per group (docs/rules.md): how long a member may be idle, the grace period
of new members, and members exempted until a date (on leave, say).

The dormant report (``opskit.reports.dormant_report``) follows each group's policy;
groups without one use the defaults. Setting a policy or an exemption is a change: only
a member who may manage the group (R1, ``rules.require_manager``) may make it, it is
stored with who made it and when, and audited in the same transaction (R10). Setting
what is already set is ``unchanged`` and writes no event (R6).
"""

from __future__ import annotations

import operator
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, insert, select, update

from . import schema as s
from .audit import record
from .clock import iso, now
from .db import Database
from .errors import BadInput
from .identity import acting_user
from .rules import find_group, find_member, find_user, lock_group, require_manager
from .schema import Action

DEFAULT_DORMANT_DAYS = 90
DEFAULT_GRACE_DAYS = 30

POLICY_COLUMNS = ["group_id", "group", "dormant_days", "grace_days", "source", "set_by", "set_at"]
EXEMPTION_COLUMNS = ["group_id", "group", "email", "until", "reason", "set_by", "set_at", "active"]

p = s.dormancy_policies.c
x = s.dormancy_exemptions.c


def whole_days(value: Any, option: str) -> int | None:
    """A number of days given by a person: a whole number, 0 or more (None: not given).
    A notebook's numpy integer is one; 1.5, "90" and True are not."""
    if value is None:
        return None
    try:
        days = operator.index(value)
    except TypeError:
        days = -1
    if isinstance(value, bool) or days < 0:
        raise BadInput(f"{value!r} is not a whole number of days (0 or more)", column=option)
    return days


def _date(value: date | str, option: str) -> datetime:
    """A date (``YYYY-MM-DD``) as the instant it starts, naive UTC like the stored times."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise BadInput(f"{value!r} is not a date (YYYY-MM-DD)", column=option) from None
    if not isinstance(value, date):
        raise BadInput(f"{value!r} is not a date (YYYY-MM-DD)", column=option)
    return datetime.combine(value, time())


def policy_days(conn: Connection) -> list[int]:
    """The numbers of days the groups' policies name (dormant or grace), each once: a
    handful, however many groups have a policy."""
    named = conn.execute(select(p.dormant_days).union(select(p.grace_days))).scalars()
    return sorted(days for days in set(named) if days is not None)


def set_policy(
    db: Database,
    group: str,
    *,
    actor: str | None = None,
    dormant_days: int | None = None,
    grace_days: int | None = None,
) -> dict[str, Any]:
    """Set a group's dormant days and/or grace days (an option not given keeps its value)."""
    dormant_days = whole_days(dormant_days, "--dormant-days")
    grace_days = whole_days(grace_days, "--grace-days")
    if dormant_days is None and grace_days is None:
        raise BadInput("say what to set: --dormant-days and/or --grace-days", column="policy")
    with db.begin() as conn:
        grp = find_group(conn, group)
        who = acting_user(conn, actor)
        lock_group(conn, grp.group_id)
        require_manager(conn, grp, who, doing="set the dormancy policy")
        current = conn.execute(
            select(s.dormancy_policies).where(p.group_id == grp.group_id)
        ).first()
        before = {
            "dormant_days": current.dormant_days if current else None,
            "grace_days": current.grace_days if current else None,
        }
        after = {
            "dormant_days": before["dormant_days"] if dormant_days is None else dormant_days,
            "grace_days": before["grace_days"] if grace_days is None else grace_days,
        }
        outcome = "unchanged"
        if current is None or after != before:
            at = now()
            values = {**after, "set_by": who.user_id, "set_at": at}
            if current is None:
                conn.execute(insert(s.dormancy_policies).values(group_id=grp.group_id, **values))
            else:
                conn.execute(
                    update(s.dormancy_policies).where(p.group_id == grp.group_id).values(**values)
                )
            record(
                conn,
                at=at,
                actor_id=who.user_id,
                group_id=grp.group_id,
                user_id=who.user_id,
                action=Action.POLICY_SET,
                before=before,
                after=after,
            )
            outcome = "changed"
        shown = _policy_rows(conn, grp.group_id)[0]
    return {**shown, "outcome": outcome}


def exempt(
    db: Database,
    email: str,
    group: str,
    *,
    until: date | str,
    reason: str,
    actor: str | None = None,
) -> dict[str, Any]:
    """Leave a member out of the dormant report until ``until`` (the start of that day,
    UTC). A new exemption of the same member replaces the old one; an ``until`` of today
    ends it now. A date in the past is bad input."""
    ends = _date(until, "--until")
    reason = (reason or "").strip()
    if not reason:
        raise BadInput("an exemption needs a reason", column="--reason")
    at = now()
    if ends.date() < at.date():
        raise BadInput(f"{ends.date().isoformat()} is in the past", column="--until")
    with db.begin() as conn:
        grp = find_group(conn, group)
        who = acting_user(conn, actor)
        target = find_user(conn, email)
        lock_group(conn, grp.group_id)
        find_member(conn, grp, target)
        require_manager(conn, grp, who, doing="exempt members from dormancy")
        where = (x.group_id == grp.group_id, x.user_id == target.user_id)
        current = conn.execute(select(x.until, x.reason).where(*where)).first()
        before = {"until": iso(current.until), "reason": current.reason} if current else None
        after = {"until": iso(ends), "reason": reason}
        outcome = "unchanged"
        if before != after:
            values = {"until": ends, "reason": reason, "set_by": who.user_id, "set_at": at}
            if current is None:
                conn.execute(
                    insert(s.dormancy_exemptions).values(
                        group_id=grp.group_id, user_id=target.user_id, **values
                    )
                )
            else:
                conn.execute(update(s.dormancy_exemptions).where(*where).values(**values))
            record(
                conn,
                at=at,
                actor_id=who.user_id,
                group_id=grp.group_id,
                user_id=target.user_id,
                action=Action.POLICY_EXEMPTED,
                before=before,
                after=after,
                reason=reason,
            )
            outcome = "changed"
    return {
        "group_id": grp.group_id,
        "group": grp.name,
        "email": target.email,
        "until": ends.date().isoformat(),
        "reason": reason,
        "outcome": outcome,
    }


def _policy_rows(conn: Connection, group_id: str | None) -> list[dict[str, Any]]:
    g = s.groups.c
    setter = s.users.alias("setter")
    query = (
        select(
            g.group_id,
            g.name.label("group"),
            p.dormant_days,
            p.grace_days,
            setter.c.email.label("set_by"),
            p.set_at,
        )
        .select_from(s.groups)
        .outerjoin(s.dormancy_policies, p.group_id == g.group_id)
        .outerjoin(setter, setter.c.user_id == p.set_by)
        .order_by(g.name)
    )
    if group_id is not None:
        query = query.where(g.group_id == group_id)
    rows = []
    for row in conn.execute(query):
        own = row.set_at is not None
        rows.append(
            {
                "group_id": row.group_id,
                "group": row.group,
                "dormant_days": DEFAULT_DORMANT_DAYS
                if row.dormant_days is None
                else row.dormant_days,
                "grace_days": DEFAULT_GRACE_DAYS if row.grace_days is None else row.grace_days,
                "source": "group" if own else "default",
                "set_by": row.set_by,
                "set_at": iso(row.set_at),
            }
        )
    return rows


def policies(db: Database, *, group: str | None = None) -> list[dict[str, Any]]:
    """Each group's dormancy policy in effect (``source``: ``group`` or ``default``)."""
    with db.read() as conn:
        group_id = find_group(conn, group).group_id if group is not None else None
        return _policy_rows(conn, group_id)


def exemptions(
    db: Database, *, group: str | None = None, as_of: datetime | None = None
) -> list[dict[str, Any]]:
    """Every exemption, ``active`` while its date is still to come."""
    at = as_of or now()
    g = s.groups.c
    member = s.users.alias("member")
    setter = s.users.alias("setter")
    query = (
        select(
            x.group_id,
            g.name.label("group"),
            member.c.email,
            x.until,
            x.reason,
            setter.c.email.label("set_by"),
            x.set_at,
        )
        .select_from(s.dormancy_exemptions)
        .join(s.groups, g.group_id == x.group_id)
        .join(member, member.c.user_id == x.user_id)
        .outerjoin(setter, setter.c.user_id == x.set_by)
        .order_by(g.name, member.c.email_key)
    )
    with db.read() as conn:
        if group is not None:
            query = query.where(x.group_id == find_group(conn, group).group_id)
        rows = conn.execute(query).all()
    return [
        {
            "group_id": row.group_id,
            "group": row.group,
            "email": row.email,
            "until": row.until.date().isoformat(),
            "reason": row.reason,
            "set_by": row.set_by,
            "set_at": iso(row.set_at),
            "active": row.until > at,
        }
        for row in rows
    ]
