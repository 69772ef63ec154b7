"""The pre-deactivation checklist (SPEC section 3): evaluate, resolve, snapshot, restore.

One row per membership and item. Evaluation is set-based: one query reads the
members of the selection, then one query per item table reads what those members
have there (membership ids are chunked so that bind-parameter limits are never hit);
never a query per member. The row conditions that make an item ``action_needed`` are
shared with ``pending_conditions`` (correlated EXISTS, for reports and the user table
to reuse in their own queries); ``checklist_summary`` joins the same per-member facts
in SQL to count the states of every group.

Administrators and items: booking profiles and appointments are a practitioner
thing, so an administrator gets ``not_applicable`` on ``online_booking`` when they
have no booking profile and on ``future_appointments`` when they have no future
appointment. Should the data hold a profile or appointments for an administrator
anyway, the item is evaluated like a practitioner's: a bookable profile is never
hidden behind a role. Integrations, credits, reminders and the data export apply
to every member.

Resolution snapshots the rows it is about to change into ``settings_snapshots``
(how they were and what resolution set), then changes exactly those rows, and
writes one ``checklist_resolved`` event per member per resolved item, all in the
caller's transaction. ``restore_settings`` puts the rows back unless someone changed
them since. The export grant of ``data_export`` is a permission given on request,
not a setting switched off, so it is not snapshotted and a restore keeps it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Row,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)

from . import schema as s
from .audit import event_row, record_many
from .clock import iso, now
from .db import Database, members_table
from .errors import BadInput, UnknownMember
from .rules import find_group, find_member, find_user, lock_groups, require_manager
from .schema import Action
from .sqljson import SqlJson

ITEMS = (
    "online_booking",
    "integrations",
    "credits_auto_top_up",
    "appointment_reminders",
    "data_export",
    "future_appointments",
)
RESOLVABLE = ITEMS[:4]  # what ``all`` resolves; data_export only when asked by name
STATES = ("ok", "action_needed", "optional", "advisory", "not_applicable")
CHUNK = 5000  # ids per statement: far below SQLite's and PostgreSQL's bind limits

CHECKLIST_COLUMNS = [
    "group_id",
    "group",
    "user_id",
    "email",
    "name",
    "role",
    "status",
    "item",
    "state",
    "count",
    "detail",
]

_bp = s.booking_profiles.c
_it = s.integrations.c
_cs = s.credit_settings.c
_rl = s.reminder_levels.c
_eg = s.export_grants.c
_ap = s.appointments.c
_snap = s.settings_snapshots.c
_m = s.memberships.c


# --------------------------------------------------------------------------- conditions


def _pending_rows(item: str) -> ColumnElement[bool]:
    """The rows of an item's table that still need action (no membership involved)."""
    if item == "online_booking":
        return or_(_bp.directory_profile != "hidden", _bp.online_bookings != "disabled")
    if item == "integrations":
        return _it.enabled.is_(True)
    if item == "credits_auto_top_up":
        # the group's own row (user_id NULL) is never a member's pending setting
        return and_(_cs.user_id.is_not(None), _cs.auto_top_up.is_(True))
    if item == "appointment_reminders":
        return _rl.user_id.is_not(None)
    raise KeyError(item)


_TABLES: dict[str, Table] = {
    "online_booking": s.booking_profiles,
    "integrations": s.integrations,
    "credits_auto_top_up": s.credit_settings,
    "appointment_reminders": s.reminder_levels,
}


def _of_member(table: Table, membership) -> ColumnElement[bool]:
    return and_(table.c.group_id == membership.c.group_id, table.c.user_id == membership.c.user_id)


def pending_conditions(membership=s.memberships) -> dict[str, ColumnElement[bool]]:
    """For each resolvable item, a correlated EXISTS that is true when the item is
    ``action_needed`` for the ``membership`` row (the table or an alias of it)."""
    return {
        item: select(literal(1))
        .select_from(table)
        .where(_of_member(table, membership), _pending_rows(item))
        .exists()
        for item, table in _TABLES.items()
    }


def future_appointments_count(membership=s.memberships, at: datetime | None = None):
    """A correlated scalar subquery: the member's appointments after ``at`` (default now)."""
    at = at or now()
    return (
        select(func.count())
        .select_from(s.appointments)
        .where(
            _ap.group_id == membership.c.group_id,
            _ap.practitioner_id == membership.c.user_id,
            _ap.starts_at > at,
        )
        .scalar_subquery()
    )


# --------------------------------------------------------------------------- evaluation
#
# One query reads the members in scope; then one query per item table, over the same
# scope, returns only the members that have rows there, aggregated per member. The
# states are decided from those facts, with the row conditions pending_conditions
# uses, so the checklist and the reports built on pending_conditions cannot disagree.
# Reading each item table once (instead of probing it once per member) keeps a large
# selection fast: the cost follows the rows that exist, not members times items.


class _Scope:
    """Which memberships an evaluation covers, and how an item table is narrowed to them."""

    def __init__(
        self, where: ColumnElement[bool] | None = None, *, group_id: str | None = None
    ) -> None:
        self.where = where  # on memberships; None: every membership
        self.group_id = group_id  # set when the scope is exactly one group

    def members(self, query):
        return query if self.where is None else query.where(self.where)

    def narrow(self, query, table: Table, user_column: str = "user_id"):
        if self.group_id is not None:  # the item tables' keys start with group_id
            return query.where(table.c.group_id == self.group_id)
        if self.where is None:
            return query
        on = and_(_m.group_id == table.c.group_id, _m.user_id == table.c[user_column])
        return query.join(s.memberships, on).where(self.where)


def _flag(item: str):
    return func.sum(case((_pending_rows(item), 1), else_=0))


def _fact_queries(at: datetime) -> dict[str, tuple[Table, Any, str]]:
    """Per item table: (table, query, its user column). Each query gives one row per
    member who has rows there: ``group_id``, ``user_id`` and what the member has."""
    return {
        "profiles": (
            s.booking_profiles,
            select(
                _bp.group_id,
                _bp.user_id,
                _flag("online_booking").label("pending"),
                func.count().label("locations"),
            ).group_by(_bp.group_id, _bp.user_id),
            "user_id",
        ),
        "integrations": (
            s.integrations,
            select(_it.group_id, _it.user_id, func.aggregate_strings(_it.kind, ",").label("kinds"))
            .where(_pending_rows("integrations"))
            .group_by(_it.group_id, _it.user_id),
            "user_id",
        ),
        "credits": (
            s.credit_settings,
            select(_cs.group_id, _cs.user_id, _flag("credits_auto_top_up").label("pending"))
            .where(_cs.user_id.is_not(None))
            .group_by(_cs.group_id, _cs.user_id),
            "user_id",
        ),
        "reminders": (
            s.reminder_levels,
            # at most one individual level per member (unique index)
            select(_rl.group_id, _rl.user_id, _rl.name.label("level")).where(
                _pending_rows("appointment_reminders")
            ),
            "user_id",
        ),
        "export": (
            s.export_grants,
            select(_eg.group_id, _eg.user_id, _eg.granted_at),
            "user_id",
        ),
        "appointments": (
            s.appointments,
            select(_ap.group_id, _ap.practitioner_id.label("user_id"), func.count().label("future"))
            .where(_ap.starts_at > at)
            .group_by(_ap.group_id, _ap.practitioner_id),
            "practitioner_id",
        ),
    }


def _facts(conn: Connection, scope: _Scope, at: datetime) -> dict[str, dict[tuple, Row]]:
    """Per item table: (group_id, user_id) -> what the member has there."""
    return {
        name: {(r[0], r[1]): r for r in conn.execute(scope.narrow(query, table, user))}
        for name, (table, query, user) in _fact_queries(at).items()
    }


def _members_query(scope: _Scope):
    query = (
        select(
            _m.membership_id,
            _m.group_id,
            s.groups.c.name.label("group"),
            _m.user_id,
            s.users.c.email,
            s.users.c.name,
            _m.role,
            _m.status,
        )
        .select_from(s.memberships)
        .join(s.users, s.users.c.user_id == _m.user_id)
        .join(s.groups, s.groups.c.group_id == _m.group_id)
        .order_by(s.groups.c.name, case((_m.status == "active", 0), else_=1), s.users.c.email_key)
    )
    return scope.members(query)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _evaluate(conn: Connection, scope: _Scope, at: datetime) -> list[dict[str, Any]]:
    """Six rows per member in scope, members in list order, items in ``ITEMS`` order."""
    members = conn.execute(_members_query(scope)).all()
    if not members:
        return []
    facts = _facts(conn, scope, at)
    profiles, integrations, credits = facts["profiles"], facts["integrations"], facts["credits"]
    reminders, export, appointments = facts["reminders"], facts["export"], facts["appointments"]
    after = iso(at)
    no_appointment = f"no appointment after {after}"
    rows: list[dict[str, Any]] = []
    add = rows.append
    for membership_id, group_id, group, user_id, email, name, role, status in members:
        key = (group_id, user_id)
        admin = role == "administrator"
        base = {
            "membership_id": membership_id,
            "group_id": group_id,
            "group": group,
            "user_id": user_id,
            "email": email,
            "name": name,
            "role": role,
            "status": status,
        }

        found = profiles.get(key)
        if found is not None and found[2]:
            state = "action_needed"
            detail = f"listed or bookable online at {found[2]} of {_plural(found[3], 'location')}"
        elif found is not None:
            state, detail = "ok", f"hidden and not bookable at {_plural(found[3], 'location')}"
        elif admin:
            state, detail = "not_applicable", "administrators have no booking profile"
        else:
            state, detail = "ok", "no booking profile"
        add({**base, "item": "online_booking", "state": state, "count": None, "detail": detail})

        found = integrations.get(key)
        if found is not None:
            kinds = ", ".join(sorted(found[2].split(",")))
            state, detail = "action_needed", f"enabled: {kinds}"
        else:
            state, detail = "ok", "no personal integration enabled"
        add({**base, "item": "integrations", "state": state, "count": None, "detail": detail})

        found = credits.get(key)
        if found is not None and found[2]:
            state, detail = "action_needed", "individual auto top-up is on"
        elif found is not None:
            state, detail = "ok", "individual auto top-up is off"
        else:
            state, detail = "ok", "no individual credit setting"
        add(
            {**base, "item": "credits_auto_top_up", "state": state, "count": None, "detail": detail}
        )

        found = reminders.get(key)
        if found is not None:
            state, detail = "action_needed", f"individual reminder level {found[2]!r}"
        else:
            state, detail = "ok", "uses the group's reminder level"
        add(
            {
                **base,
                "item": "appointment_reminders",
                "state": state,
                "count": None,
                "detail": detail,
            }
        )

        found = export.get(key)
        if found is not None:
            state, detail = "ok", f"export granted {iso(found[2])}"
        else:
            state, detail = "optional", "no export permission; grant it on request"
        add({**base, "item": "data_export", "state": state, "count": None, "detail": detail})

        found = appointments.get(key)
        future = int(found[2]) if found is not None else 0
        if future:
            state = "advisory"
            detail = f"{_plural(future, 'appointment')} after {after}: decide what happens to them"
        elif admin:
            state, detail = "not_applicable", "administrators have no appointments"
        else:
            state, detail = "ok", no_appointment
        add(
            {
                **base,
                "item": "future_appointments",
                "state": state,
                "count": future,
                "detail": detail,
            }
        )
    return rows


def _chunks(values: Sequence, size: int | None = None) -> Iterator[Sequence]:
    size = size or CHUNK
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _sort_key(row: Mapping[str, Any]) -> tuple:
    return (row["group"], row["status"] != "active", row["email"].lower(), row["group_id"])


def evaluate_members(
    conn: Connection, membership_ids: Iterable[int], *, at: datetime | None = None
) -> list[dict[str, Any]]:
    """The checklist rows of these memberships: six per member, in list order
    (group, active before inactive, email), items in ``ITEMS`` order."""
    at = at or now()
    ids = sorted(set(membership_ids))
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(ids):
        rows.extend(_evaluate(conn, _Scope(_m.membership_id.in_(chunk)), at))
    if len(ids) > CHUNK:
        rows.sort(key=_sort_key)  # stable: items keep their order within a member
    return rows


# --------------------------------------------------------------------------- selections


def _pair(member: Any) -> tuple[str, str]:
    if isinstance(member, Mapping):
        group = member.get("group_id") or member.get("group")
        return str(group or ""), str(member.get("email") or "")
    group, email = member
    return str(group), str(email)


def select_members(conn: Connection, members: Iterable[Any]) -> list[int]:
    """Membership ids of (group, email) pairs (or rows with ``group_id``/``email``),
    set-based; an unknown group, user or membership is bad input naming the first."""
    pairs = [_pair(member) for member in members]
    if not pairs:
        return []
    g = s.groups.c
    refs = sorted({group.strip() for group, _ in pairs})
    groups: dict[str, Row] = {}
    for chunk in _chunks(refs):
        for row in conn.execute(
            select(s.groups).where(or_(g.group_id.in_(chunk), g.name.in_(chunk)))
        ):
            groups[row.group_id] = row
            groups[row.name] = row
    keys = sorted({email.strip().lower() for _, email in pairs})
    users: dict[str, Row] = {}
    for chunk in _chunks(keys):
        for row in conn.execute(select(s.users).where(s.users.c.email_key.in_(chunk))):
            users[row.email_key] = row
    wanted: dict[tuple[str, str], tuple[Row, Row]] = {}
    for group, email in pairs:
        grp = groups.get(group.strip())
        if grp is None:
            find_group(conn, group)  # raises UnknownGroup with the usual message
        user = users.get(email.strip().lower())
        if user is None:
            find_user(conn, email, option="--user")
        wanted[(grp.group_id, user.user_id)] = (grp, user)
    found: dict[tuple[str, str], int] = {}
    for chunk in _chunks(list(wanted)):
        query = select(_m.group_id, _m.user_id, _m.membership_id).where(
            tuple_(_m.group_id, _m.user_id).in_(chunk)
        )
        for row in conn.execute(query):
            found[(row.group_id, row.user_id)] = row.membership_id
    for key, (grp, user) in wanted.items():
        if key not in found:
            raise UnknownMember(f"{user.email} is not a member of {grp.name}", column="--user")
    return [found[key] for key in wanted]


def _scope(
    conn: Connection, *, group: str | None, user: str | None, members: Iterable[Any] | None
) -> _Scope | list[int]:
    """What a public call is about: a scope over memberships, or membership ids."""
    if members is not None:
        return select_members(conn, members)
    grp = find_group(conn, group) if group is not None else None
    who = find_user(conn, user, option="--user") if user is not None else None
    if grp is not None and who is not None:
        return [find_member(conn, grp, who, option="--user").membership_id]
    if grp is not None:
        return _Scope(_m.group_id == grp.group_id, group_id=grp.group_id)
    if who is not None:
        return _Scope(_m.user_id == who.user_id)
    return _Scope()


def checklist(
    db: Database,
    *,
    group: str | None = None,
    user: str | None = None,
    members: Iterable[Any] | None = None,
) -> list[dict[str, Any]]:
    """The checklist rows of a group, a user (in every group, or in ``group``), a
    selection of (group, email) pairs, or of every group when nothing is named."""
    with db.read() as conn:
        scope = _scope(conn, group=group, user=user, members=members)
        at = now()
        if isinstance(scope, list):
            return evaluate_members(conn, scope, at=at)
        return _evaluate(conn, scope, at)


def checklist_groups(db: Database) -> list[dict[str, str]]:
    """Every group (``group_id``, ``name``) by name: what a checklist can be asked about."""
    with db.read() as conn:
        query = select(s.groups.c.group_id, s.groups.c.name).order_by(s.groups.c.name)
        return [{"group_id": r.group_id, "name": r.name} for r in conn.execute(query)]


SUMMARY_COLUMNS = ["group_id", "group", "item", "members", *STATES, "inactive_action_needed"]


def checklist_summary(db: Database, *, group: str | None = None) -> list[dict[str, Any]]:
    """Per group and item, how many members are in each state (and how many inactive
    members still need action): the checklist of every group, counted in SQL."""
    with db.read() as conn:
        at = now()
        scope = _Scope()
        if group is not None:
            group_id = find_group(conn, group).group_id
            scope = _Scope(_m.group_id == group_id, group_id=group_id)
        # the same per-member facts as the rows, joined in SQL; the states as _evaluate
        # decides them (a test holds the two to the same counts)
        f = {
            name: scope.narrow(query, table, user).subquery(name)
            for name, (table, query, user) in _fact_queries(at).items()
        }
        admin = _m.role == "administrator"
        states = {
            "online_booking": case(
                (f["profiles"].c.pending > 0, "action_needed"),
                (and_(admin, f["profiles"].c.group_id.is_(None)), "not_applicable"),
                else_="ok",
            ),
            "integrations": case(
                (f["integrations"].c.group_id.is_not(None), "action_needed"), else_="ok"
            ),
            "credits_auto_top_up": case((f["credits"].c.pending > 0, "action_needed"), else_="ok"),
            "appointment_reminders": case(
                (f["reminders"].c.group_id.is_not(None), "action_needed"), else_="ok"
            ),
            "data_export": case((f["export"].c.group_id.is_not(None), "ok"), else_="optional"),
            "future_appointments": case(
                (f["appointments"].c.group_id.is_not(None), "advisory"),
                (admin, "not_applicable"),
                else_="ok",
            ),
        }
        joined = s.memberships
        for facts in f.values():
            joined = joined.outerjoin(
                facts, and_(facts.c.group_id == _m.group_id, facts.c.user_id == _m.user_id)
            )
        per_member = scope.members(
            select(
                _m.group_id, _m.status, *[expr.label(item) for item, expr in states.items()]
            ).select_from(joined)
        )
        inner = per_member.subquery("member_states")
        counts = [func.count().label("members")]
        for item in ITEMS:
            column = inner.c[item]
            counts += [
                func.sum(case((column == state, 1), else_=0)).label(f"{item}:{state}")
                for state in STATES
            ]
            counts.append(
                func.sum(
                    case(
                        (and_(column == "action_needed", inner.c.status == "inactive"), 1), else_=0
                    )
                ).label(f"{item}:inactive")
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
            for item in ITEMS:
                row = {"group_id": record[0], "group": record[1], "item": item}
                row["members"] = int(values["members"])
                for state in STATES:
                    row[state] = int(values[f"{item}:{state}"] or 0)
                row["inactive_action_needed"] = int(values[f"{item}:inactive"] or 0)
                rows.append(row)
        return rows


def to_frame(rows: Iterable[Mapping[str, Any]]):
    """Checklist rows as a pandas DataFrame with the columns in contract order."""
    import pandas as pd

    return pd.DataFrame(list(rows), columns=CHECKLIST_COLUMNS)


# --------------------------------------------------------------------------- resolution


def parse_items(items: str | Iterable[str]) -> list[str]:
    """Item ids to resolve; ``all`` is every resolvable item (never ``data_export``)."""
    if isinstance(items, str):
        items = items.split(",")
    allowed = [*RESOLVABLE, "data_export", "all"]
    wanted: list[str] = []
    for raw in items:
        item = raw.strip().lower()
        if item == "all":
            wanted.extend(RESOLVABLE)
        elif item == "future_appointments":
            raise BadInput(
                "future_appointments is advisory: opskit never changes appointments; "
                f"resolve one of {', '.join(allowed)}",
                column="--resolve",
            )
        elif item in allowed:
            wanted.append(item)
        else:
            raise BadInput(
                f"{raw.strip()!r} is not a checklist item to resolve; "
                f"choose one of {', '.join(allowed)}",
                column="--resolve",
            )
    if not wanted:
        raise BadInput(f"say which item to resolve: {', '.join(allowed)}", column="--resolve")
    return [item for item in ITEMS if item in wanted]


# What each resolvable item changes: the key of a row, the values kept in the snapshot,
# and what resolution sets (None: the row is deleted).
_KEYS = {
    "online_booking": ("group_id", "user_id", "location_id"),
    "integrations": ("group_id", "user_id", "kind"),
    "credits_auto_top_up": ("credit_setting_id",),
    "appointment_reminders": ("reminder_level_id",),
}
_RESOLVED_TO: dict[str, dict[str, Any] | None] = {
    "online_booking": {"directory_profile": "hidden", "online_bookings": "disabled"},
    "integrations": {"enabled": False},
    "credits_auto_top_up": {"auto_top_up": False},
    "appointment_reminders": None,
}
_SNAPSHOTTED = {
    "online_booking": ("directory_profile", "online_bookings"),
    "integrations": ("enabled",),
    "credits_auto_top_up": ("auto_top_up",),
    "appointment_reminders": ("name",),
}


def _label(item: str, row: Mapping[str, Any]) -> str:
    """The name a changed row goes by in an audit event."""
    if item == "online_booking":
        return row["location_id"]
    if item == "integrations":
        return row["kind"]
    return item


def _change_text(item: str, rows: list[Mapping[str, Any]]) -> tuple[dict, dict, str]:
    """The audit before/after and a human detail for one member's resolved item."""
    if item == "online_booking":
        before = {
            "profiles": {r["location_id"]: {k: r[k] for k in _SNAPSHOTTED[item]} for r in rows}
        }
        after = {"profiles": {r["location_id"]: dict(_RESOLVED_TO[item]) for r in rows}}
        detail = f"hid the profile and disabled online bookings at {_plural(len(rows), 'location')}"
    elif item == "integrations":
        kinds = sorted(r["kind"] for r in rows)
        before = {"integrations": dict.fromkeys(kinds, True)}
        after = {"integrations": dict.fromkeys(kinds, False)}
        revoked = " (iCal feed revoked)" if "ical_feed" in kinds else ""
        detail = f"disabled {', '.join(kinds)}{revoked}"
    elif item == "credits_auto_top_up":
        before, after = {"auto_top_up": True}, {"auto_top_up": False}
        detail = "turned individual auto top-up off"
    else:
        before = {"reminder_level": rows[0]["name"]}
        after = {"reminder_level": None}
        detail = f"removed individual reminder level {rows[0]['name']!r}; the group's applies"
    return before, after, detail


def _pending_of(conn: Connection, item: str, members: FromClause) -> list[dict[str, Any]]:
    """The rows of ``item`` that still need action for these memberships, row-locked."""
    table = _TABLES[item]
    columns = {c.name for c in table.c} & {*_KEYS[item], *_SNAPSHOTTED[item], "group_id", "user_id"}
    query = (
        select(members.c.membership_id, *[table.c[name] for name in sorted(columns)])
        .select_from(table)
        .join(members, _of_member(table, members))
        .where(_pending_rows(item))
        .order_by(*[table.c[k] for k in _KEYS[item]])
        .with_for_update(of=table)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def _key_filter(table: Table, item: str, keys: Sequence[tuple]) -> ColumnElement[bool]:
    names = _KEYS[item]
    if len(names) == 1:
        return table.c[names[0]].in_([k[0] for k in keys])
    return tuple_(*[table.c[n] for n in names]).in_(keys)


def _snapshot_entry(j: SqlJson, item: str, x) -> ColumnElement:
    """One row of a snapshot's ``rows``: its key, label, values before and as set."""
    if item == "online_booking":
        label = x.location_id
    elif item == "integrations":
        label = x.kind
    else:
        label = j.key(item)
    # integrations and auto top-up are pending only when the flag is on: the before
    # value is known, and written as JSON true rather than SQLite's 1
    before = {
        k: j.const(True) if item in ("integrations", "credits_auto_top_up") else x[k]
        for k in _SNAPSHOTTED[item]
    }
    return j.obj(
        key=j.obj(**{k: x[k] for k in _KEYS[item]}),
        label=label,
        before=j.obj(**before),
        after=j.const(_RESOLVED_TO[item]),
    )


def _event_texts(j: SqlJson, item: str, x) -> tuple[ColumnElement, ColumnElement]:
    """The audit ``before``/``after`` of one member's resolved item, aggregated over
    the member's rows (the same values ``_change_text`` gives)."""
    if item == "online_booking":
        was = j.obj(directory_profile=x.directory_profile, online_bookings=x.online_bookings)
        before = j.obj(profiles=j.obj_agg(x.location_id, was))
        after = j.obj(profiles=j.obj_agg(x.location_id, j.const(_RESOLVED_TO[item])))
    elif item == "integrations":
        before = j.obj(integrations=j.obj_agg(x.kind, j.const(True)))
        after = j.obj(integrations=j.obj_agg(x.kind, j.const(False)))
    elif item == "credits_auto_top_up":
        before, after = j.const({"auto_top_up": True}), j.const({"auto_top_up": False})
    else:
        before = j.obj(reminder_level=func.min(x.name))
        after = j.const({"reminder_level": None})
    return j.text(before), j.text(after)


_EVENT_COLUMNS = [
    *("at", "actor_id", "group_id", "user_id", "action", "item", "before", "after", "run_id")
]


def _resolve_item(
    conn: Connection,
    item: str,
    members: FromClause,
    *,
    actor_id: str,
    at: datetime,
    run_id: str | None,
    report: bool = True,
) -> list[dict[str, Any]]:
    """Snapshot, audit and change one item's pending rows for the ``members``:
    three set-based statements (the JSON is built by the database), in the caller's
    transaction. With ``report`` the rows are read first to describe each change."""
    table = _TABLES[item]
    x = table.c
    of_members = select(members.c.group_id, members.c.user_id)
    pending = and_(tuple_(x.group_id, x.user_id).in_(of_members), _pending_rows(item))
    resolved: list[dict[str, Any]] = []
    if report:
        rows = _pending_of(conn, item, members)
        if not rows:
            return []
        by_member: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_member[row["membership_id"]].append(row)
        for membership_id, member_rows in by_member.items():
            before, after, detail = _change_text(item, member_rows)
            resolved.append(
                {
                    "membership_id": membership_id,
                    "group_id": member_rows[0]["group_id"],
                    "user_id": member_rows[0]["user_id"],
                    "item": item,
                    "action": Action.CHECKLIST_RESOLVED.value,
                    "before": before,
                    "after": after,
                    "detail": detail,
                }
            )
    elif conn.dialect.name == "postgresql":
        # row-lock what is about to be snapshotted, as _pending_of does (SQLite's
        # writer already holds the database write lock)
        locked = select(x.group_id).where(pending).with_for_update()
        conn.execute(select(func.count()).select_from(locked.subquery()))
    j = SqlJson(conn.dialect.name)
    ordered = [x[k] for k in _KEYS[item]]
    per_member = (x.group_id, x.user_id)
    conn.execute(
        insert(s.settings_snapshots).from_select(
            ["group_id", "user_id", "item", "taken_at", "data", "run_id"],
            select(
                *per_member,
                literal(item, s.settings_snapshots.c.item.type),
                literal(at, s.settings_snapshots.c.taken_at.type),
                j.text(j.obj(rows=j.agg(_snapshot_entry(j, item, x), *ordered))),
                literal(run_id, s.settings_snapshots.c.run_id.type),
            )
            .where(pending)
            .group_by(*per_member),
        )
    )
    before, after = _event_texts(j, item, x)
    e = s.audit_events.c
    conn.execute(
        insert(s.audit_events).from_select(
            _EVENT_COLUMNS,
            select(
                literal(at, e.at.type),
                literal(actor_id, e.actor_id.type),
                *per_member,
                literal(Action.CHECKLIST_RESOLVED.value, e.action.type),
                literal(item, e.item.type),
                before,
                after,
                literal(run_id, e.run_id.type),
            )
            .where(pending)
            .group_by(*per_member),
        )
    )
    if _RESOLVED_TO[item] is None:
        conn.execute(delete(table).where(pending))
    else:
        conn.execute(update(table).where(pending).values(**_RESOLVED_TO[item]))
    return resolved


def _grant_exports(
    conn: Connection, chunk: Sequence[int], *, actor_id: str, at: datetime, run_id: str | None
) -> list[dict[str, Any]]:
    granted = (
        select(literal(1))
        .select_from(s.export_grants)
        .where(_of_member(s.export_grants, s.memberships))
        .exists()
    )
    members = conn.execute(
        select(_m.membership_id, _m.group_id, _m.user_id)
        .where(_m.membership_id.in_(chunk), ~granted)
        .order_by(_m.membership_id)
    ).all()
    if not members:
        return []
    conn.execute(
        insert(s.export_grants),
        [{"group_id": r.group_id, "user_id": r.user_id, "granted_at": at} for r in members],
    )
    before, after = {"export_grant": False}, {"export_grant": True}
    record_many(
        conn,
        [
            event_row(
                at=at,
                actor_id=actor_id,
                group_id=r.group_id,
                user_id=r.user_id,
                action=Action.EXPORT_GRANTED,
                item="data_export",
                before=before,
                after=after,
                run_id=run_id,
            )
            for r in members
        ],
    )
    return [
        {
            "membership_id": r.membership_id,
            "group_id": r.group_id,
            "user_id": r.user_id,
            "item": "data_export",
            "action": Action.EXPORT_GRANTED.value,
            "before": before,
            "after": after,
            "detail": "granted the export of their personal data",
        }
        for r in members
    ]


def resolve_items(
    conn: Connection,
    membership_ids: Iterable[int],
    items: str | Iterable[str],
    *,
    actor_id: str,
    at: datetime,
    run_id: str | None = None,
    report: bool = True,
) -> list[dict[str, Any]]:
    """Resolve the open ``items`` (ids or ``all``) of many members at once.

    Dangerous in the way every bulk write is: it changes the settings of every member
    in ``membership_ids`` in a handful of statements per item, inside the caller's
    transaction (it never commits and checks no rule; the caller has checked R1 and
    holds the group locks). For each item: row-lock the rows still pending, snapshot
    them, write one audit event per member, change exactly those rows, each step one
    ``INSERT ... SELECT`` or ``UPDATE`` with the JSON built in SQL. An item that is
    already ok writes nothing. Returns one row per member and resolved item with the
    audit ``before``/``after`` and a ``detail``; with ``report=False`` (bulk
    offboarding, which knows what was pending) nothing is read back and it returns [].
    """
    wanted = parse_items(items)
    ids = sorted(set(membership_ids))
    resolved: list[dict[str, Any]] = []
    if not ids:
        return resolved
    with members_table(conn, ids) as members:
        for item in wanted:
            if item == "data_export":
                for chunk in _chunks(ids):
                    resolved.extend(
                        _grant_exports(conn, chunk, actor_id=actor_id, at=at, run_id=run_id)
                    )
            else:
                resolved.extend(
                    _resolve_item(
                        conn, item, members, actor_id=actor_id, at=at, run_id=run_id, report=report
                    )
                )
    return resolved


def _mark(rows: list[dict[str, Any]], done: list[dict[str, Any]], key: str) -> list[dict]:
    """Flag the checklist rows that a resolve or restore just changed, with its detail."""
    by_key = {(d["membership_id"], d["item"]): d for d in done}
    for row in rows:
        change = by_key.get((row["membership_id"], row["item"]))
        row[key] = change is not None
        if change is not None:
            row["detail"] = change["detail"]
    return rows


class _RollBack(Exception):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows


def _authorise(conn: Connection, grp: Row, who: Row, user_ids: set[str]) -> None:
    """R1 for someone else; a member may resolve their own items while they may act."""
    if user_ids == {who.user_id}:
        own = conn.execute(
            select(_m.status, _m.read_only).where(
                _m.group_id == grp.group_id, _m.user_id == who.user_id
            )
        ).first()
        if own is not None and own.status == "active" and not own.read_only:
            return
    require_manager(conn, grp, who, doing="resolve checklist items")


def resolve_checklist(
    db: Database,
    *,
    group: str | None,
    item: str | Iterable[str],
    actor: str,
    user: str | None = None,
    members: Iterable[Any] | None = None,
    dry_run: bool = False,
) -> list[dict[str, Any]]:
    """Resolve ``item`` (an id, a list of ids, or ``all``) for ``user`` in ``group``, or
    for a selection of (group, email) ``members``; R1 in every group involved.

    Returns the checklist rows of those members afterwards; ``resolved`` marks the rows
    this call changed. ``dry_run`` does all of it and rolls back.
    """
    items = parse_items(item)
    if members is None and user is None:
        raise BadInput("say whose checklist to resolve: a user or a selection", column="--user")
    if members is None and group is None:
        raise BadInput("say in which group to resolve the checklist", column="--group")
    try:
        with db.begin() as conn:
            who = find_user(conn, actor, option="--actor")
            ids = _scope(conn, group=group, user=user, members=members)
            assert isinstance(ids, list)  # a user in a group, or a selection
            user_ids: dict[str, set[str]] = defaultdict(set)
            for chunk in _chunks(ids):
                query = select(_m.group_id, _m.user_id).where(_m.membership_id.in_(chunk))
                for target in conn.execute(query):
                    user_ids[target.group_id].add(target.user_id)
            lock_groups(conn, user_ids)
            for group_id in sorted(user_ids):
                _authorise(conn, find_group(conn, group_id), who, user_ids[group_id])
            at = now()
            done = resolve_items(conn, ids, items, actor_id=who.user_id, at=at)
            rows = _mark(evaluate_members(conn, ids, at=at), done, "resolved")
            if dry_run:
                for row in rows:
                    row["dry_run"] = True
                raise _RollBack(rows)
            return rows
    except _RollBack as rolled_back:
        return rolled_back.rows


def resolve_for_deactivation(
    conn: Connection, member_row: Row, *, actor_id: str, at: datetime
) -> list[dict[str, Any]]:
    """Resolve every open resolvable item of a member about to be deactivated.

    Called inside the deactivation's transaction just before the status change, so
    the rows returned describe the member as deactivated (``status`` inactive).
    """
    ids = [member_row.membership_id]
    done = resolve_items(conn, ids, "all", actor_id=actor_id, at=at)
    rows = _mark(evaluate_members(conn, ids, at=at), done, "resolved")
    for row in rows:
        row["status"] = "inactive"
    return rows


# --------------------------------------------------------------------------- restore


def _snapshots_of(conn: Connection, chunk: Sequence[int]) -> list[Row]:
    return conn.execute(
        select(_m.membership_id, *s.settings_snapshots.c)
        .select_from(s.settings_snapshots)
        .join(
            s.memberships,
            and_(_m.group_id == _snap.group_id, _m.user_id == _snap.user_id),
        )
        .where(_m.membership_id.in_(chunk), _snap.restored_at.is_(None))
        .order_by(_snap.snapshot_id.desc())
        .with_for_update(of=s.settings_snapshots)
    ).all()


def _current(conn: Connection, item: str, keys: list[tuple]) -> dict[tuple, dict[str, Any]]:
    table = _TABLES[item]
    found: dict[tuple, dict[str, Any]] = {}
    for chunk in _chunks(keys, 2000):
        query = select(table).where(_key_filter(table, item, chunk)).with_for_update()
        for row in conn.execute(query):
            record = dict(row._mapping)
            found[tuple(record[k] for k in _KEYS[item])] = record
    return found


def _restore_item(
    conn: Connection,
    item: str,
    entries: dict[int, dict[tuple, dict[str, Any]]],
    members: dict[int, tuple[str, str]],
    at: datetime,
) -> dict[int, dict[str, list]]:
    """Put back one item's rows for many members; returns per member what was
    restored and what was left alone (and why)."""
    table = _TABLES[item]
    outcome: dict[int, dict[str, list]] = {mid: {"restored": [], "left": []} for mid in entries}
    if item == "appointment_reminders":
        # the row was deleted: put the level back unless the member has one again
        has_level = {
            (r.group_id, r.user_id)
            for chunk in _chunks(list(members.values()), 2000)
            for r in conn.execute(
                select(_rl.group_id, _rl.user_id).where(
                    tuple_(_rl.group_id, _rl.user_id).in_(chunk)
                )
            )
        }
        inserts = []
        for mid, rows in entries.items():
            # each resolution deleted a different row: only the newest level counts
            for entry in list(rows.values())[:1]:
                if members[mid] in has_level:
                    outcome[mid]["left"].append((entry, "an individual level was set since"))
                else:
                    group_id, user_id = members[mid]
                    inserts.append(
                        {"group_id": group_id, "user_id": user_id, "name": entry["before"]["name"]}
                    )
                    outcome[mid]["restored"].append(entry)
                    has_level.add(members[mid])
        if inserts:
            conn.execute(insert(s.reminder_levels), inserts)
        return outcome
    keys = [key for rows in entries.values() for key in rows]
    current = _current(conn, item, keys)
    by_values: dict[tuple, list[tuple]] = defaultdict(list)
    for mid, rows in entries.items():
        for key, entry in rows.items():
            now_row = current.get(key)
            if now_row is None:
                outcome[mid]["left"].append((entry, "it no longer exists"))
            elif any(now_row[k] != v for k, v in entry["after"].items()):
                outcome[mid]["left"].append((entry, "it was changed since"))
            else:
                by_values[tuple(sorted(entry["before"].items()))].append(key)
                outcome[mid]["restored"].append(entry)
    # one conditional UPDATE per distinct set of old values, never one per row
    for values, value_keys in by_values.items():
        resolved_to = _RESOLVED_TO[item] or {}
        for chunk in _chunks(value_keys, 2000):
            conn.execute(
                update(table)
                .where(
                    _key_filter(table, item, chunk),
                    *[table.c[k] == v for k, v in resolved_to.items()],
                )
                .values(**dict(values))
            )
    return outcome


def _restore_texts(item: str, restored: list[dict], left: list[tuple]) -> tuple[dict, dict, str]:
    labels = sorted(entry["label"] for entry in restored)
    if item == "online_booking":
        before = {"profiles": {e["label"]: _RESOLVED_TO[item] for e in restored}}
        after = {"profiles": {e["label"]: e["before"] for e in restored}}
        text = f"restored the profile at {_plural(len(restored), 'location')}"
    elif item == "integrations":
        before = {"integrations": dict.fromkeys(labels, False)}
        after = {"integrations": dict.fromkeys(labels, True)}
        text = f"re-enabled {', '.join(labels)}"
    elif item == "credits_auto_top_up":
        before, after = {"auto_top_up": False}, {"auto_top_up": True}
        text = "turned individual auto top-up back on"
    else:
        name = restored[0]["before"]["name"] if restored else None
        before, after = {"reminder_level": None}, {"reminder_level": name}
        text = f"put back individual reminder level {name!r}"
    if left:
        why = "; ".join(
            f"left {entry['label']} alone: {reason}"
            if entry["label"] != item
            else f"left it alone: {reason}"
            for entry, reason in left
        )
        text = f"{text}; {why}" if restored else why
    return before, after, text


def restore_settings(
    conn: Connection,
    membership_ids: Iterable[int],
    *,
    actor_id: str,
    at: datetime,
    run_id: str | None = None,
) -> list[dict[str, Any]]:
    """Put back what checklist resolution switched off, from the unrestored snapshots.

    Changes the settings of every member in ``membership_ids`` in the caller's
    transaction. Where several unrestored snapshots cover the same row, the newest
    wins. A row whose current value is no longer what resolution set (someone changed
    it since, or it is gone) is left alone and the returned row says so. Every
    snapshot read is marked restored; one ``settings_restored`` event is written per
    member per item that had something put back. Returns one row per member and
    snapshotted item: ``outcome`` is ``restored``, ``partly_restored`` or
    ``left_alone``, and ``state`` the item's checklist state afterwards.
    """
    ids = sorted(set(membership_ids))
    results: list[dict[str, Any]] = []
    for chunk in _chunks(ids):
        snapshots = _snapshots_of(conn, chunk)
        if not snapshots:
            continue
        members = {r.membership_id: (r.group_id, r.user_id) for r in snapshots}
        # item -> member -> row key -> newest snapshot entry for that row
        entries: dict[str, dict[int, dict[tuple, dict]]] = defaultdict(lambda: defaultdict(dict))
        for snap in snapshots:  # newest first
            for entry in json.loads(snap.data)["rows"]:
                key = tuple(entry["key"][k] for k in _KEYS[snap.item])
                entries[snap.item][snap.membership_id].setdefault(key, entry)
        events, done = [], []
        for item in RESOLVABLE:
            if item not in entries:
                continue
            outcome = _restore_item(conn, item, entries[item], members, at)
            for mid, what in outcome.items():
                group_id, user_id = members[mid]
                before, after, detail = _restore_texts(item, what["restored"], what["left"])
                if what["restored"]:
                    events.append(
                        event_row(
                            at=at,
                            actor_id=actor_id,
                            group_id=group_id,
                            user_id=user_id,
                            action=Action.SETTINGS_RESTORED,
                            item=item,
                            before=before,
                            after=after,
                            run_id=run_id,
                        )
                    )
                done.append(
                    {
                        "membership_id": mid,
                        "item": item,
                        "outcome": (
                            ("partly_restored" if what["left"] else "restored")
                            if what["restored"]
                            else "left_alone"
                        ),
                        "restored": len(what["restored"]),
                        "left_alone": len(what["left"]),
                        "detail": detail,
                    }
                )
        snapshot_ids = [snap.snapshot_id for snap in snapshots]
        for id_chunk in _chunks(snapshot_ids):
            conn.execute(
                update(s.settings_snapshots)
                .where(_snap.snapshot_id.in_(id_chunk))
                .values(restored_at=at)
            )
        record_many(conn, events)
        evaluated = {
            (r["membership_id"], r["item"]): r
            for r in evaluate_members(conn, {d["membership_id"] for d in done}, at=at)
        }
        for change in done:
            row = dict(evaluated[(change["membership_id"], change["item"])])
            row.update(change)
            results.append(row)
    results.sort(key=lambda r: (*_sort_key(r), ITEMS.index(r["item"])))
    return results


def restore_member_settings(
    conn: Connection, member_row: Row, *, actor_id: str, at: datetime
) -> list[dict[str, Any]]:
    """``restore_settings`` for the one member being reactivated."""
    return restore_settings(conn, [member_row.membership_id], actor_id=actor_id, at=at)
