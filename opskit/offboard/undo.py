"""Undoing a run: reactivate exactly the members it changed, restore their settings."""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, and_, case, func, select, update

from .. import schema as s
from ..audit import event_row, record_many
from ..checklist import restore_settings as restore_checklist_settings
from ..clock import now
from ..db import Database
from ..errors import NotAuthorized
from ..identity import acting_user
from ..lifecycle import lift_read_only, set_status_returning
from ..rules import lock_groups, manageable_groups
from ..schema import Action
from .bulk import BULK_TABLES, chunks, collector_paused
from .liveness import RunProcess
from .runs import RunOptions, claim, mark_interrupted

_m = s.memberships.c
_rr = s.offboard_run_rows.c
_runs = s.offboard_runs.c


@dataclass
class UndoResult:
    """What ``undo_run`` did: per changed row, ``reactivated``, ``changed`` (read-only
    lifted) or ``unchanged`` (already undone, or changed by someone since)."""

    run: str
    state: str
    rows: list[dict[str, Any]]

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(r["result"] for r in self.rows)
        return {k: found[k] for k in ("reactivated", "changed", "unchanged")}

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "state": self.state, **self.counts, "rows": self.rows}


@collector_paused
def undo_run(
    db: Database, run_id: str, *, actor: str | None = None, progress: bool | None = True
) -> UndoResult:
    """Undo a run: reactivate exactly the members it deactivated and lift the read-only
    it set, restoring the settings its checklist resolution switched off.

    Dangerous like apply: many members at once, in batches (one transaction each, with
    the audit events carrying the run id). A member whose latest change is no longer
    the run's (reactivated or changed by someone since) is left alone. Idempotent: a
    second undo changes nothing. R1 holds in every group involved, checked up front.
    """
    from tqdm.auto import tqdm

    run_id = (run_id or "").strip()
    with db.begin() as conn:
        run = claim(conn, run_id, doing="undo")
        who = acting_user(conn, actor)
        group_ids = set(
            conn.execute(
                select(_rr.group_id)
                .distinct()
                .where(_rr.run_id == run_id, _rr.result.in_(("deactivated", "read_only")))
            ).scalars()
        )
        refused = sorted(group_ids - manageable_groups(conn, who.user_id, group_ids).ok)
        if refused:
            names = dict(
                conn.execute(
                    select(s.groups.c.group_id, s.groups.c.name).where(
                        s.groups.c.group_id.in_(refused)
                    )
                ).all()
            )
            where = ", ".join(names.get(g, g) for g in refused)
            raise NotAuthorized(
                f"{who.email} may not undo run {run_id}: not an active Full Access member "
                f"of {where}"
            )
        # the run is this process's now, and says it is being undone: should the undo
        # stop part-way the run shows as interrupted, and resume finishes the undo
        options = replace(RunOptions.from_json(run.options), undoing=who.user_id)
        if run.state != "undone":
            conn.execute(
                update(s.offboard_runs)
                .where(_runs.run_id == run_id)
                .values(state="running", options=options.to_json(), **RunProcess.this().columns())
            )
    with db.read() as conn:
        total = conn.execute(
            select(func.count()).where(
                _rr.run_id == run_id, _rr.result.in_(("deactivated", "read_only"))
            )
        ).scalar_one()
    rows: list[dict[str, Any]] = []
    bar = tqdm(
        total=total,
        desc=f"undoing {run_id}",
        unit="row",
        disable=None if progress is None else not progress,
        file=sys.stderr,
    )
    try:
        last = 0
        batch = options.batch_size
        while True:
            with db.begin() as conn:
                conn.execute(select(_runs.run_id).where(_runs.run_id == run_id).with_for_update())
                done, reached = _undo_batch(
                    conn,
                    run_id,
                    after=last,
                    limit=batch,
                    actor_id=who.user_id,
                    restore=options.resolve_checklist,
                )
            if reached == last:
                break
            last = reached
            rows.extend(done)
            bar.update(len(done))
    except BaseException:
        mark_interrupted(db, run_id)
        raise
    finally:
        bar.close()
    with db.begin() as conn:
        conn.execute(
            update(s.offboard_runs)
            .where(_runs.run_id == run_id, _runs.state != "undone")
            .values(state="undone", undone_at=now())
        )
    db.checkpoint()
    db.analyze(BULK_TABLES)
    return UndoResult(run=run_id, state="undone", rows=rows)


def _give_back(conn, run_id, rows, reactivated, **change) -> dict[tuple[str, str], str]:
    """The hand-off's undo for the reactivated members (``offboard.handoff.give_back``):
    per member, what to add to its message."""
    members = [(r.group_id, r.user_id) for r in rows if r.membership_id in reactivated]
    if not members:
        return {}
    from .handoff import give_back

    said = {}
    for member, (count, left) in give_back(conn, run_id, members, **change).items():
        text = f"; gave back {count} appointment{'s' if count != 1 else ''}" if count else ""
        if left:
            text += f"; left alone {', '.join(left)}"
        said[member] = text
    return said


def _latest_run(m, actions: tuple[str, ...]):
    """The run id of the member's latest event among ``actions`` (a correlated subquery)."""
    e = s.audit_events.c
    return (
        select(e.run_id)
        .where(e.group_id == m.c.group_id, e.user_id == m.c.user_id, e.action.in_(actions))
        .order_by(e.event_id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _undo_batch(
    conn: Connection, run_id: str, *, after: int, limit: int, actor_id: str, restore: bool
) -> tuple[list[dict[str, Any]], int]:
    m = s.memberships
    # the next rows by primary key; the changed ones are picked here, so the read is a
    # walk along the key and nothing else
    batch = conn.execute(
        select(_rr.row_no, _rr.group_id, _rr.result)
        .where(_rr.run_id == run_id, _rr.row_no > after)
        .order_by(_rr.row_no)
        .limit(limit)
    ).all()
    if not batch:
        return [], after
    changed = [r for r in batch if r.result in ("deactivated", "read_only")]
    if not changed:
        return [], batch[-1].row_no
    # lock first, then read who is still as the run left them (PostgreSQL; SQLite
    # already holds the write lock)
    lock_groups(conn, {r.group_id for r in changed})
    status_events = (Action.DEACTIVATED.value, Action.REACTIVATED.value)
    rows = conn.execute(
        select(
            _rr.row_no,
            _rr.group_id,
            s.groups.c.name.label("group"),
            _rr.user_id,
            _rr.email,
            _rr.action,
            _rr.result,
            _m.membership_id,
            _m.status,
            _m.read_only,
            case(
                (_rr.result == "deactivated", _latest_run(m, status_events)),
                else_=_latest_run(m, (Action.ACCESS_CHANGED.value,)),
            ).label("latest_run"),
        )
        .select_from(s.offboard_run_rows)
        .join(m, and_(_m.group_id == _rr.group_id, _m.user_id == _rr.user_id))
        .join(s.groups, s.groups.c.group_id == _rr.group_id)
        .where(_rr.run_id == run_id, _rr.row_no.in_([r.row_no for r in changed]))
        .order_by(_rr.row_no)
    ).all()
    at = now()
    reactivate = [
        r.membership_id
        for r in rows
        if r.result == "deactivated" and r.status == "inactive" and r.latest_run == run_id
    ]
    lift = [
        r.membership_id
        for r in rows
        if r.result == "read_only" and r.read_only and r.latest_run == run_id
    ]
    reason = f"undo of offboarding run {run_id}"
    reactivated: set[int] = set()
    for chunk in chunks(reactivate):
        reactivated |= set_status_returning(
            conn, chunk, "active", actor_id=actor_id, at=at, reason=reason
        )
    lifted: set[int] = set()
    for chunk in chunks(lift):
        lifted |= lift_read_only(conn, chunk)
    given_back = _give_back(
        conn, run_id, rows, reactivated, actor_id=actor_id, at=at, reason=reason
    )
    restored: dict[int, list[str]] = defaultdict(list)
    if restore and (reactivated or lifted):
        for item in restore_checklist_settings(
            conn, sorted(reactivated | lifted), actor_id=actor_id, at=at, run_id=run_id
        ):
            if item.get("restored"):
                restored[item["membership_id"]].append(item["item"])
    events, results = [], []
    for r in rows:
        mid = r.membership_id
        if mid in reactivated:
            events.append(
                event_row(
                    at=at,
                    actor_id=actor_id,
                    group_id=r.group_id,
                    user_id=r.user_id,
                    action=Action.REACTIVATED,
                    before={"status": "inactive"},
                    after={"status": "active"},
                    reason=reason,
                    run_id=run_id,
                )
            )
            result, message = "reactivated", "reactivated; sessions stay signed out"
        elif mid in lifted:
            events.append(
                event_row(
                    at=at,
                    actor_id=actor_id,
                    group_id=r.group_id,
                    user_id=r.user_id,
                    action=Action.ACCESS_CHANGED,
                    before={"read_only": True},
                    after={"read_only": False},
                    reason=reason,
                    run_id=run_id,
                )
            )
            result, message = "changed", "read-only lifted"
        elif r.latest_run == run_id:
            result, message = "unchanged", "already undone"
        else:
            result, message = "unchanged", "changed by someone since the run; left alone"
        if restored.get(mid):
            message += f"; restored {', '.join(restored[mid])}"
        if (r.group_id, r.user_id) in given_back:
            message += given_back[(r.group_id, r.user_id)]
        results.append(
            {
                "row": r.row_no,
                "group_id": r.group_id,
                "group": r.group,
                "email": r.email,
                "action": r.action,
                "result": result,
                "message": message,
            }
        )
    record_many(conn, events)
    return results, batch[-1].row_no
