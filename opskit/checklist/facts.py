"""The SQL every checklist reader derives from the registry: which rows of an item's
table belong to a member, what is pending, what evaluation reads per member, and the
state that follows (in Python for the rows, in SQL for the summary).

Evaluation is set-based: one query per item table over the whole scope gives one row
per member who has rows there, aggregated per member; members with no row there get
the kind's ``no_rows`` state. Reading each item table once (instead of probing it once
per member) keeps a large selection fast: the cost follows the rows that exist, not
members times items.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select

from .. import schema as s
from ..clock import now
from .items import BY_ID, REGISTRY, ChecklistItem, Found, Kind

CHUNK = 5000  # ids per statement: far below SQLite's and PostgreSQL's bind limits

_m = s.memberships.c


def chunks(values: Sequence, size: int | None = None) -> Iterator[Sequence]:
    size = size or CHUNK
    for start in range(0, len(values), size):
        yield values[start : start + size]


def of_member(item: ChecklistItem, membership: Any) -> ColumnElement[bool]:
    """The rows of ``item``'s table that belong to the ``membership`` row."""
    c = item.table.c
    return and_(c.group_id == membership.c.group_id, c[item.member_column] == membership.c.user_id)


def pending_conditions(membership: Any = s.memberships) -> dict[str, ColumnElement[bool]]:
    """For each resolvable item, a correlated EXISTS that is true when the item is
    ``action_needed`` for the ``membership`` row (the table or an alias of it)."""
    return {
        item.id: select(literal(1))
        .select_from(item.table)
        .where(of_member(item, membership), item.pending(item.table.c))
        .exists()
        for item in REGISTRY
        if item.kind is Kind.RESOLVABLE and item.pending is not None
    }


def future_appointments_count(membership: Any = s.memberships, at: datetime | None = None):
    """A correlated scalar subquery: the member's appointments after ``at`` (default now)."""
    item = BY_ID["future_appointments"]
    assert item.reads is not None
    return (
        select(func.count())
        .select_from(item.table)
        .where(of_member(item, membership), item.reads(item.table.c, at or now()))
        .scalar_subquery()
    )


class Scope:
    """Which memberships an evaluation covers, and how an item table is narrowed to them."""

    def __init__(
        self, where: ColumnElement[bool] | None = None, *, group_id: str | None = None
    ) -> None:
        self.where = where  # on memberships; None: every membership
        self.group_id = group_id  # set when the scope is exactly one group

    def members(self, query: Select) -> Select:
        return query if self.where is None else query.where(self.where)

    def narrow(self, query: Select, item: ChecklistItem) -> Select:
        table = item.table
        if self.group_id is not None:  # the item tables' keys start with group_id
            return query.where(table.c.group_id == self.group_id)
        if self.where is None:
            return query
        on = and_(_m.group_id == table.c.group_id, _m.user_id == table.c[item.member_column])
        return query.join(s.memberships, on).where(self.where)


def facts_query(item: ChecklistItem, at: datetime, *, details: bool = True) -> Select:
    """One row per member who has rows read in ``item``'s table: ``group_id``,
    ``user_id``, ``flag`` and (with ``details``) the item's ``facts``."""
    c = item.table.c
    member = (c.group_id, c[item.member_column])
    pending = item.pending(c) if item.pending is not None else None
    facts = item.facts(c) if details else {}
    flag: ColumnElement[Any]
    if item.plain_rows:
        flag = case((pending, 1), else_=0) if pending is not None else literal(1)
    else:
        flag = func.sum(case((pending, 1), else_=0)) if pending is not None else func.count()
    query = select(
        member[0], member[1].label("user_id"), flag.label("flag"),
        *(value.label(name) for name, value in facts.items()),
    )  # fmt: skip
    if item.reads is not None:
        query = query.where(item.reads(c, at))
    return query if item.plain_rows else query.group_by(*member)


def member_facts(item: ChecklistItem, at: datetime, scope: Scope) -> Select:
    """``facts_query`` over ``scope``, with the item's ``group_facts`` when it has any:
    what evaluation reads of the item for every member in scope who has rows there."""
    query = scope.narrow(facts_query(item, at), item)
    if item.group_facts is None:
        return query
    return item.group_facts(query.cte(f"{item.id}_facts"))


FLAG = 2  # the index of ``flag`` in a row of ``facts_query``


def state_of(item: ChecklistItem, found: Found, administrator: bool) -> str:
    """The item's state for a member with these facts (None: no row read).
    ``state_sql`` says the same in SQL; a test holds the two to the same counts."""
    if found is None:
        if administrator and item.practitioner_only:
            return "not_applicable"
        return item.kind.no_rows
    if item.kind.flagged is not None and found[FLAG]:
        return item.kind.flagged
    return "ok"


def state_table(item: ChecklistItem) -> tuple[tuple[str, str], tuple[str, str]]:
    """``state_of`` tabulated for a loop over many members: the state of a member
    without rows (by ``administrator``) and of one with rows (by flagged); a member
    with rows is evaluated the same whatever their role."""
    absent = (state_of(item, None, False), state_of(item, None, True))
    present = (state_of(item, (None, None, 0), False), state_of(item, (None, None, 1), False))
    return absent, present


def state_sql(item: ChecklistItem, facts: Any, administrator: ColumnElement[bool]):
    """``state_of`` as a CASE over the item's ``facts_query`` outer-joined to members."""
    absent = facts.c.group_id.is_(None)
    whens: list[tuple[ColumnElement[bool], str]] = []
    if item.practitioner_only:
        whens.append((and_(administrator, absent), "not_applicable"))
    if item.kind.no_rows != "ok":
        whens.append((absent, item.kind.no_rows))
    if item.kind.flagged is not None:
        whens.append((facts.c.flag > 0, item.kind.flagged))
    return case(*whens, else_="ok") if whens else literal("ok")
