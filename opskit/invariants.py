"""What must hold in an opskit database whatever happened to it (``opskit check``).

Crashes, killed processes, lost connections and concurrent analysts may leave work
unfinished (a run to resume), but never inconsistent. ``check_invariants`` looks for
every way it could be inconsistent and names each one it finds:

- ``open_session_while_inactive``: an inactive member still signed in (R5);
- ``status_change_unaudited``: a status changed by opskit with no status event (R10);
- ``status_disagrees_with_audit``: the last status event says otherwise than the status;
- ``status_event_repeated``: two ``deactivated`` (or ``reactivated``) events in a row for
  one member: a change applied, or audited, twice;
- ``no_full_access_member`` / ``no_account_owner``: a locked-out group (R4);
- ``run_row_unaudited``: a run's ledger says it changed a member, yet that member has
  not exactly one event of that run;
- ``run_event_unledgered``: an event of a run that the run's ledger does not record;
- ``run_row_disagrees_with_member``: the ledger says deactivated (or read-only) and the
  member is not, with no later event to explain why;
- ``run_done_with_pending_rows``: a run marked done with rows never decided;
- ``audit_chain_broken``: the audit events' hash chain breaks (``audit.walk_chain``:
  an event deleted, altered, inserted or moved).

Loaded data carries no history: a membership loaded inactive has no
``status_changed_at``, so only the changes opskit made are held to their audit events.
Every check is one set-based query, so the whole database is checked in a few
statements whatever its size. Reading only: nothing here writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, and_, case, except_, func, literal, literal_column, or_, select

from . import schema as s
from .audit import walk_chain
from .db import Database
from .rules import locked_out_groups
from .schema import Action

_m = s.memberships.c
_e = s.audit_events.c
_u = s.users.c
_r = s.offboard_run_rows.c
_STATUS_ACTIONS = (Action.DEACTIVATED.value, Action.REACTIVATED.value)
# The ledger results that mean the run changed the member.
_CHANGED_RESULTS = ("deactivated", "read_only")


def _violation(
    kind: str,
    message: str,
    *,
    group_id: str | None = None,
    email: str | None = None,
    run: str | None = None,
) -> dict[str, Any]:
    return {"kind": kind, "group_id": group_id, "email": email, "run": run, "message": message}


def _open_sessions_of_inactive(conn: Connection) -> Iterable[dict]:
    c = s.sessions.c
    query = (
        select(_m.group_id, _u.email, func.count().label("n"))
        .select_from(s.memberships)
        .join(s.users, _u.user_id == _m.user_id)
        .join(s.sessions, and_(c.group_id == _m.group_id, c.user_id == _m.user_id))
        # literally: the partial index ix_memberships_inactive (SQLite uses one only then)
        .where(_m.status == literal_column("'inactive'"), c.revoked_at.is_(None))
        .group_by(_m.group_id, _u.email)
    )
    for row in conn.execute(query):
        yield _violation(
            "open_session_while_inactive",
            f"{row.email} is inactive in {row.group_id} but has {row.n} open session(s)",
            group_id=row.group_id,
            email=row.email,
        )


def _latest_status_events():
    """Per member, the last deactivated/reactivated event: (group_id, user_id, action)."""
    last = (
        select(_e.group_id, _e.user_id, func.max(_e.event_id).label("event_id"))
        .where(_e.action.in_(_STATUS_ACTIONS))
        .group_by(_e.group_id, _e.user_id)
        .subquery("last")
    )
    return (
        select(last.c.group_id, last.c.user_id, _e.action)
        .join(s.audit_events, _e.event_id == last.c.event_id)
        .subquery("latest")
    )


def _status_against_audit(conn: Connection) -> Iterable[dict]:
    """Two queries, each from the few rows it concerns: the members whose status opskit
    changed (the partial index ix_memberships_status_changed) without a status event,
    and the members with a status event (few) whose status says otherwise."""
    latest = _latest_status_events()
    unaudited = (
        select(_m.group_id, _u.email, _m.status)
        .select_from(s.memberships)
        .join(s.users, _u.user_id == _m.user_id)
        .outerjoin(latest, and_(latest.c.group_id == _m.group_id, latest.c.user_id == _m.user_id))
        .where(_m.status_changed_at.is_not(None), latest.c.action.is_(None))
    )
    for row in conn.execute(unaudited):
        yield _violation(
            "status_change_unaudited",
            f"{row.email} was made {row.status} in {row.group_id} by opskit, "
            "but no deactivated/reactivated event records it",
            group_id=row.group_id,
            email=row.email,
        )
    implied = case((latest.c.action == Action.DEACTIVATED.value, "inactive"), else_="active")
    disagreeing = (
        select(_m.group_id, _u.email, _m.status, latest.c.action)
        .select_from(latest)
        .join(s.memberships, and_(_m.group_id == latest.c.group_id, _m.user_id == latest.c.user_id))
        .join(s.users, _u.user_id == _m.user_id)
        .where(implied != _m.status)
    )
    for row in conn.execute(disagreeing):
        yield _violation(
            "status_disagrees_with_audit",
            f"{row.email} is {row.status} in {row.group_id}, "
            f"but the last status event says {row.action}",
            group_id=row.group_id,
            email=row.email,
        )


def _repeated_status_events(conn: Connection) -> Iterable[dict]:
    ordered = (
        select(
            _e.group_id,
            _e.user_id,
            _e.action,
            _e.run_id,
            func.lag(_e.action)
            .over(partition_by=(_e.group_id, _e.user_id), order_by=_e.event_id)
            .label("previous"),
        )
        .where(_e.action.in_(_STATUS_ACTIONS))
        .subquery("ordered")
    )
    query = (
        select(ordered.c.group_id, _u.email, ordered.c.action, ordered.c.run_id)
        .join(s.users, _u.user_id == ordered.c.user_id, isouter=True)
        .where(ordered.c.action == ordered.c.previous)
    )
    for row in conn.execute(query):
        yield _violation(
            "status_event_repeated",
            f"{row.email} has two {row.action} events in a row in {row.group_id}: "
            "one change applied or audited twice",
            group_id=row.group_id,
            email=row.email,
            run=row.run_id,
        )


def _locked_out_groups(conn: Connection) -> Iterable[dict]:
    for group_id, lacks in locked_out_groups(conn).items():
        for lack in lacks:
            yield _violation(lack.kind, f"{group_id} has {lack.text}", group_id=group_id)


def _sets_read_only():
    # audit before/after are JSON written with sorted keys: {"read_only": true}
    return _e.after.like('%"read_only": true%')


def _run_events():
    """Per (run, group, member): how many events of the run deactivated the member or made
    them read-only, and the last of each. One pass over the events; the checks below join
    it (a correlated subquery per ledger row would be quadratic in a run's size)."""
    deactivated = _e.action == Action.DEACTIVATED.value
    read_only = and_(_e.action == Action.ACCESS_CHANGED.value, _sets_read_only())
    return (
        select(
            _e.run_id,
            _e.group_id,
            _e.user_id,
            func.count(_e.event_id).filter(deactivated).label("deactivated"),
            func.count(_e.event_id).filter(read_only).label("read_only"),
            func.max(_e.event_id).filter(deactivated).label("deactivated_at"),
            func.max(_e.event_id).filter(read_only).label("read_only_at"),
        )
        .where(_e.run_id.is_not(None))
        .group_by(_e.run_id, _e.group_id, _e.user_id)
        .subquery("run_events")
    )


def _same_member(a, b):
    return and_(a.run_id == b.run_id, a.group_id == b.group_id, a.user_id == b.user_id)


def _ledger_against_audit(conn: Connection) -> Iterable[dict]:
    ev = _run_events()
    found = case(
        (_r.result == "deactivated", func.coalesce(ev.c.deactivated, 0)),
        else_=func.coalesce(ev.c.read_only, 0),
    )
    query = (
        select(_r.run_id, _r.group_id, _r.email, _r.result, found.label("n"))
        .select_from(s.offboard_run_rows)
        .outerjoin(ev, _same_member(ev.c, _r))
        .where(_r.result.in_(_CHANGED_RESULTS), found != 1)
    )
    for row in conn.execute(query):
        yield _violation(
            "run_row_unaudited",
            f"run {row.run_id} says {row.email} was made {row.result} in {row.group_id}, "
            f"but it has {row.n} event(s) of that run doing so (expected 1)",
            group_id=row.group_id,
            email=row.email,
            run=row.run_id,
        )
    # an event carrying a run id belongs to a ledger row the run (or its undo) changed:
    # the events' (run, member, result needed) less the ledger's, as set difference
    needed = case(
        (_e.action.in_(_STATUS_ACTIONS), literal("deactivated")),
        (_e.action == Action.ACCESS_CHANGED.value, literal("read_only")),
        else_=literal("either"),  # checklist_resolved, settings_restored, ...
    )
    wanted = select(_e.run_id, _e.group_id, _e.user_id, needed).where(_e.run_id.is_not(None))
    changed = _r.result.in_(_CHANGED_RESULTS)
    missing = except_(
        wanted,
        select(_r.run_id, _r.group_id, _r.user_id, _r.result).where(changed),
        select(_r.run_id, _r.group_id, _r.user_id, literal("either")).where(changed),
    ).subquery("missing")
    query = select(*missing.c, _u.email).outerjoin(s.users, _u.user_id == missing.c.user_id)
    unledgered: Any  # a row of the set difference: run, group, user, result needed, email
    for unledgered in conn.execute(query):
        run_id, group_id, _user_id, kind, email = unledgered
        yield _violation(
            "run_event_unledgered",
            f"an event of run {run_id} for {email} in {group_id} has no matching row "
            f"({kind if kind != 'either' else 'deactivated or read_only'}) in the run's ledger",
            group_id=group_id,
            email=email,
            run=run_id,
        )


def _ledger_against_members(conn: Connection) -> Iterable[dict]:
    """A ledger result the member's row no longer shows must be explained by a later
    event of the member (a reactivation, another access change)."""
    ev = _run_events()
    last = (
        select(
            _e.group_id,
            _e.user_id,
            func.max(_e.event_id).filter(_e.action.in_(_STATUS_ACTIONS)).label("status_at"),
            func.max(_e.event_id)
            .filter(_e.action.in_((*_STATUS_ACTIONS, Action.ACCESS_CHANGED.value)))
            .label("access_at"),
        )
        .group_by(_e.group_id, _e.user_id)
        .subquery("last")
    )
    deactivated_since = and_(
        _r.result == "deactivated",
        _m.status != "inactive",
        func.coalesce(last.c.status_at, 0) <= func.coalesce(ev.c.deactivated_at, 0),
    )
    read_only_since = and_(
        _r.result == "read_only",
        or_(_m.read_only.is_(False), _m.status != "active"),
        func.coalesce(last.c.access_at, 0) <= func.coalesce(ev.c.read_only_at, 0),
    )
    query = (
        select(_r.run_id, _r.group_id, _r.email, _r.result, _m.status, _m.read_only)
        .select_from(s.offboard_run_rows)
        .join(s.memberships, and_(_m.group_id == _r.group_id, _m.user_id == _r.user_id))
        .outerjoin(ev, _same_member(ev.c, _r))
        .outerjoin(last, and_(last.c.group_id == _r.group_id, last.c.user_id == _r.user_id))
        .where(or_(deactivated_since, read_only_since))
    )
    for row in conn.execute(query):
        if row.result == "deactivated":
            now_is = row.status
        else:
            now_is = f"{row.status}, " + ("read-only" if row.read_only else "not read-only")
        yield _violation(
            "run_row_disagrees_with_member",
            f"run {row.run_id} says {row.email} was made {row.result} in {row.group_id}, "
            f"but they are {now_is} and no later event explains it",
            group_id=row.group_id,
            email=row.email,
            run=row.run_id,
        )


def _finished_runs_with_pending_rows(conn: Connection) -> Iterable[dict]:
    """A run keeps its plan's row count (``rows`` in its options) and a ledger row per
    decided row."""
    runs = s.offboard_runs.c
    query = (
        select(
            runs.run_id,
            runs.options,
            func.count(_r.result).label("decided"),
        )
        .outerjoin(s.offboard_run_rows, _r.run_id == runs.run_id)
        .where(runs.state == "done")
        .group_by(runs.run_id, runs.options)
    )
    for row in conn.execute(query):
        planned = json.loads(row.options)["rows"]
        if row.decided < planned:
            yield _violation(
                "run_done_with_pending_rows",
                f"run {row.run_id} is marked done but {planned - row.decided} of its rows "
                "were never decided",
                run=row.run_id,
            )


CHECKS: tuple[Callable[[Connection], Iterable[dict]], ...] = (
    _open_sessions_of_inactive,
    _status_against_audit,
    _repeated_status_events,
    _locked_out_groups,
    _ledger_against_audit,
    _ledger_against_members,
    _finished_runs_with_pending_rows,
)
KINDS = (
    "open_session_while_inactive",
    "status_change_unaudited",
    "status_disagrees_with_audit",
    "status_event_repeated",
    "no_full_access_member",
    "no_account_owner",
    "run_row_unaudited",
    "run_event_unledgered",
    "run_row_disagrees_with_member",
    "run_done_with_pending_rows",
    "audit_chain_broken",
)


def check_invariants(db: Database) -> list[dict[str, Any]]:
    """Every violation of opskit's invariants, as dicts with ``kind``, ``group_id``,
    ``email``, ``run`` and a one-line ``message``; an empty list means healthy.

    All checks read in one transaction, so they see one consistent state.
    """
    violations: list[dict[str, Any]] = []
    with db.read() as conn:
        if db.dialect == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for check in CHECKS:
            violations.extend(check(conn))
        chain = walk_chain(conn)
        if not chain["intact"]:
            violations.append(_violation("audit_chain_broken", chain["message"]))
    order = {kind: i for i, kind in enumerate(KINDS)}
    violations.sort(
        key=lambda v: (order[v["kind"]], v["group_id"] or "", v["email"] or "", v["run"] or "")
    )
    return violations
