"""How many members of each group are in each state of each item, counted in SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import FromClause, and_, case, func, select

from .. import schema as s
from ..clock import now
from ..db import Database
from ..rules import find_group
from .facts import Scope, facts_query, state_sql
from .items import REGISTRY, STATES

SUMMARY_COLUMNS = ["group_id", "group", "item", "members", *STATES, "inactive_action_needed"]

_m = s.memberships.c


def checklist_summary(db: Database, *, group: str | None = None) -> list[dict[str, Any]]:
    """Per group and item, how many members are in each state (and how many inactive
    members still need action): the checklist of every group, counted in SQL."""
    with db.read() as conn:
        at = now()
        scope = Scope()
        if group is not None:
            group_id = find_group(conn, group).group_id
            scope = Scope(_m.group_id == group_id, group_id=group_id)
        # the per-member facts the rows are decided from, joined in SQL, and the states
        # as state_sql says them (a test holds the summary to the rows' counts)
        administrator = _m.role == "administrator"
        joined: FromClause = s.memberships
        states = []
        for item in REGISTRY:
            facts = scope.narrow(facts_query(item, at, details=False), item).subquery(
                f"{item.id}_facts"
            )
            joined = joined.outerjoin(
                facts, and_(facts.c.group_id == _m.group_id, facts.c.user_id == _m.user_id)
            )
            states.append(state_sql(item, facts, administrator).label(item.id))
        per_member = scope.members(select(_m.group_id, _m.status, *states).select_from(joined))
        inner = per_member.subquery("member_states")
        counts = [func.count().label("members")]
        for item in REGISTRY:
            column = inner.c[item.id]
            counts += [
                func.sum(case((column == state, 1), else_=0)).label(f"{item.id}:{state}")
                for state in STATES
            ]
            counts.append(
                func.sum(
                    case(
                        (and_(column == "action_needed", inner.c.status == "inactive"), 1), else_=0
                    )
                ).label(f"{item.id}:inactive")
            )
        # count per group first, then name the groups: no sort of a million rows by name
        per_group = select(inner.c.group_id, *counts).group_by(inner.c.group_id).subquery()
        query = (
            select(per_group.c.group_id, s.groups.c.name, *list(per_group.c)[1:])
            .join(s.groups, s.groups.c.group_id == per_group.c.group_id)
            .order_by(s.groups.c.name)
        )
        rows: list[dict[str, Any]] = []
        for record in conn.execute(query):
            values = record._mapping
            for item in REGISTRY:
                row = {"group_id": record[0], "group": record[1], "item": item.id}
                row["members"] = int(values["members"])
                for state in STATES:
                    row[state] = int(values[f"{item.id}:{state}"] or 0)
                row["inactive_action_needed"] = int(values[f"{item.id}:inactive"] or 0)
                rows.append(row)
        return rows
