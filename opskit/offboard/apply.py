"""Applying a plan, and resuming a run whose process died.

``apply_plan`` writes the run, which keeps the plan, and the ledger rows of the blocked
rows (final from the start) in one transaction, then works through the plan's other
rows in batches. Each batch is one transaction holding the membership updates, the
revoked sessions, the checklist resolution and its snapshots, the audit events (with
the run id) and the batch's ledger rows with their results, so a process killed at any
instant leaves every member either fully offboarded or untouched, and a plan row
without a ledger row is pending: ``resume_run`` finishes those without applying
anything twice. The rules are checked again at apply time, from the database, not
taken from the plan: the plan file only says which rows to attempt (number, email,
group id, action, reason). The user is the one the database has for the email (a row
whose ``user_id`` names anyone else is ``stale``), then R1 (``rules.manageable_groups``),
R3 and R8 (``rules.full_access_refusal``), the fingerprint (a row whose member changed
since planning is ``stale``), R4 (``rules.lockout_counts``), whatever the file's
``blocker``, ``access_level`` or ``checklist`` say.
"""

from __future__ import annotations

import functools
import json
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, select, tuple_, update
from sqlalchemy.exc import DataError, IntegrityError

from .. import schema as s
from ..audit import record_for_each
from ..checklist import resolve_items
from ..clock import now
from ..db import Database, LockTimeout
from ..errors import BadInput, OpskitError, Refused, WouldLockOutGroup
from ..identity import acting_user, bound
from ..lifecycle import make_read_only, revoke_sessions, set_status
from ..rules import (
    email_key,
    full_access_refusal,
    lock_groups,
    locked_out_groups,
    lockout_counts,
    lockout_lacks,
    lockout_refusal,
    manageable_groups,
)
from ..schema import Action
from ..sqljson import SqlJson
from .bulk import BATCH_SIZE, BULK_TABLES, chunks, collector_paused
from .handoff import BatchHandoff, check_batch, with_handoff
from .plan import Plan, PlanRow, plural
from .planfile import stored_plan
from .review import require_approval
from .runs import (
    RunOptions,
    RunSummary,
    claim,
    decided_rows,
    lock_run,
    mark_interrupted,
    run_summary,
    start_run,
    take_over,
    write_ledger,
)
from .state import PENDING_BY_MASK, PENDING_ITEMS, State, fingerprint_of, state_columns

_m = s.memberships.c
_rr = s.offboard_run_rows.c
_runs = s.offboard_runs.c


def _as_plan(plan: Plan | str | Path | Mapping[str, Any]) -> Plan:
    if isinstance(plan, Plan):
        return plan
    if isinstance(plan, (str, Path)):
        return Plan.load(plan)
    if isinstance(plan, Mapping):
        return Plan.from_json(json.dumps(plan, default=str), name="plan")
    raise BadInput(f"expected a plan, got {type(plan).__name__}", column="PLAN")


@collector_paused
def apply_plan(
    db: Database,
    plan: Plan | str | Path,
    *,
    resolve_checklist: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: bool | None = True,
) -> RunSummary:
    """Apply a reviewed plan: deactivate (or make read-only) every unblocked row.

    Dangerous: it changes many members at once. Authorisation (R1) is checked again,
    rows whose fingerprint changed since planning become ``stale``, and each batch of
    ``batch_size`` rows is one transaction holding the membership updates, the revoked
    sessions, the checklist resolution with its snapshots (``resolve_checklist``), the
    audit events with the run id and the ledger results. Returns the run's summary;
    ``run_rows`` has the per-row results. ``progress`` shows a ``tqdm.auto`` bar
    (``None``: only on a terminal).
    """
    plan = _as_plan(plan)
    if batch_size < 1:
        raise BadInput("the batch size must be at least 1", column="--batch-size")
    options = RunOptions(
        rows=len(plan.rows),
        resolve_checklist=bool(resolve_checklist),
        batch_size=int(batch_size),
        source=plan.source,
        planned_at=plan.created_at,
    )
    require_approval(db, plan)  # bound mode: four eyes (docs/rules.md 9.2)
    run_id = start_run(db, plan, options)
    _drive(db, run_id, plan, options, progress)
    return run_summary(db, run_id)


@dataclass
class _Context:
    """What every batch of a run needs to know."""

    run_id: str
    actor_id: str
    resolve_checklist: bool
    batch_size: int
    planned: dict[int, PlanRow]  # row number -> plan row (reasons, what was reviewed)
    # row number -> the user id the database has for the row's email (the plan's
    # user_id is only compared with it, never used)
    resolved: dict[int, str | None] = field(default_factory=dict)
    planned_at: str = ""  # when the plan was made (the hand-off's check starts there)
    handing_off: bool = True  # does any row of the plan hand appointments off?

    def user_id(self, number: int) -> str | None:
        return self.resolved.get(number)


def _drive(
    db: Database, run_id: str, plan: Plan, options: RunOptions, progress: bool | None
) -> None:
    """Work through the pending rows of a run, batch by batch, then mark it done."""
    from tqdm.auto import tqdm

    with db.begin() as conn:
        actor_id = lock_run(conn, run_id).actor_id
        decided = set(conn.execute(select(_rr.row_no).where(_rr.run_id == run_id)).scalars())
    ctx = _Context(
        run_id=run_id,
        actor_id=actor_id,
        resolve_checklist=options.resolve_checklist,
        batch_size=options.batch_size,
        planned={row.row: row for row in plan.rows},
        planned_at=plan.created_at,
        handing_off=any(row.handoff is not None for row in plan.rows),
    )
    # Batches follow group order rather than the plan's: each batch then touches
    # neighbouring index and table pages, which is what keeps a large run linear (random
    # order rewrites most pages of the big indexes in every batch). The sort key is the
    # row's own group id string: a million rows sort without a million key tuples.
    order = sorted(
        (row.row for row in plan.rows if row.blocker is None and row.row not in decided),
        key=lambda number: ctx.planned[number].group_id or "",
    )
    bar = tqdm(
        total=len(order),
        desc=f"offboarding {run_id}",
        unit="row",
        disable=None if progress is None else not progress,
        file=sys.stderr,
    )
    try:
        for numbers in chunks(order, ctx.batch_size):
            _process(db, ctx, list(numbers))
            bar.update(len(numbers))
    except BaseException:
        mark_interrupted(db, run_id)
        raise
    finally:
        bar.close()
    with db.begin() as conn:
        conn.execute(
            update(s.offboard_runs)
            .where(_runs.run_id == run_id, _runs.state == "running")
            .values(state="done", finished_at=now())
        )
    db.checkpoint()
    db.analyze(BULK_TABLES)


_RECOVERABLE = (IntegrityError, DataError, OpskitError)


def _process(db: Database, ctx: _Context, numbers: list[int]) -> None:
    """One batch in one transaction. A batch that fails on a row's data is split in
    halves until the failing row is alone; that row is recorded ``failed`` and the rest
    goes on. (Lost connections and the like are not caught: the run is interrupted.)"""
    try:
        with db.begin() as conn:
            lock_run(conn, ctx.run_id)
            outcomes = _apply_batch(conn, ctx, numbers)
            _record_results(conn, ctx, outcomes)
    except LockTimeout:
        raise  # no row's fault: the run is interrupted, and resume finishes it
    except _RECOVERABLE as error:
        if len(numbers) > 1:
            half = len(numbers) // 2
            _process(db, ctx, numbers[:half])
            _process(db, ctx, numbers[half:])
            return
        message = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        with db.begin() as conn:
            lock_run(conn, ctx.run_id)
            if not decided_rows(conn, ctx.run_id, numbers):
                _record_results(conn, ctx, [(numbers[0], "failed", message[:500])])


def _record_results(conn: Connection, ctx: _Context, outcomes: list[tuple[int, str, str]]) -> None:
    """The ledger rows of a batch, results and all, in its transaction."""
    write_ledger(
        conn,
        ctx.run_id,
        [
            (ctx.planned[number], (result, message, ctx.user_id(number)))
            for number, result, message in outcomes
        ],
        now(),
    )


def _batch_rows(
    conn: Connection, ctx: _Context, numbers: Sequence[int], at: datetime
) -> Sequence[Any]:
    """The batch's pending plan rows joined to their users, found by email, and to
    their memberships' current state.

    Only a row's number, email, group id and action are taken from the plan: the user
    is the one the database has for the email (a row whose ``user_id`` names anyone
    else is refused by the caller), the state is read here. Rows that have their ledger
    row already are left out: another process decided them (the run's lock lets one
    batch at a time in). On PostgreSQL the memberships are row-locked first, so nothing
    (a sign-in opening a session, say) changes them between this read and the batch's
    writes; on SQLite the batch's transaction holds the database write lock already."""
    decided = decided_rows(conn, ctx.run_id, numbers)
    planned = [ctx.planned[number] for number in numbers if number not in decided]
    batch = (
        SqlJson(conn.dialect.name)
        .rows([[row.row, row.group_id, email_key(row.email)] for row in planned], _BATCH_COLUMNS)
        .subquery("batch")
    )
    m, u = s.memberships, s.users
    if conn.dialect.name == "postgresql":
        conn.execute(
            select(_m.membership_id)
            .join(u, u.c.user_id == _m.user_id)
            .where(
                tuple_(_m.group_id, u.c.email_key).in_(select(batch.c.group_id, batch.c.email_key))
            )
            .order_by(_m.membership_id)
            .with_for_update(of=m)
        ).all()
    query = (
        select(
            batch.c.row_no,
            u.c.user_id.label("found_user_id"),
            *state_columns(m, at, appointments=False, packed=True),
        )
        .select_from(batch)
        .outerjoin(u, u.c.email_key == batch.c.email_key)
        .outerjoin(m, and_(_m.group_id == batch.c.group_id, _m.user_id == u.c.user_id))
        .order_by(batch.c.row_no)
    )
    rows = conn.execute(query).all()
    for row in rows:
        ctx.resolved[row.row_no] = row.found_user_id
    return rows


_BATCH_COLUMNS = [
    ("row_no", s.offboard_run_rows.c.row_no.type),
    ("group_id", s.offboard_run_rows.c.group_id.type),
    ("email_key", s.users.c.email_key.type),
]


def _stale_detail(planned: PlanRow | None, state: State) -> str:
    """Say what changed since planning, as far as the plan row tells."""
    if planned is None:
        return "the member changed since planning; plan again"
    changes = []
    if planned.access_level and planned.access_level != state.access_level:
        changes.append(f"access level {planned.access_level} -> {state.access_level}")
    if planned.action == "deactivate" and planned.sessions != state.open_sessions:
        changes.append(f"open sessions {planned.sessions} -> {state.open_sessions}")
    if tuple(planned.checklist) != state.pending:
        was = ", ".join(planned.checklist) or "none"
        changes.append(f"pending checklist {was} -> {', '.join(state.pending) or 'none'}")
    if state.status != "active":
        changes.append("now inactive")
    detail = "; ".join(changes) or "status, access or sessions changed"
    return f"changed since planning ({detail}); plan again"


def _apply_batch(
    conn: Connection, ctx: _Context, numbers: Sequence[int]
) -> list[tuple[int, str, str]]:
    """Decide and apply one batch inside the caller's transaction.

    Order: lock the groups; read the members' state (row-locked); decide each row in
    Python; then the writes, each one set-based statement per kind of change: the
    conditional membership updates, the session revocations, the checklist, the R4
    guard, the audit events. Every statement is in one transaction, so the order
    matters only for what each statement reads. Under the locks the state read is the
    state written over: the sessions counted are the sessions revoked, the checklist
    items pending are the items resolved.
    """
    at = now()
    group_ids = {g for number in numbers if (g := ctx.planned[number].group_id) is not None}
    lock_groups(conn, group_ids)
    rows = _batch_rows(conn, ctx, numbers, at)
    authority = manageable_groups(conn, ctx.actor_id, group_ids)
    names = dict(
        conn.execute(
            select(s.groups.c.group_id, s.groups.c.name).where(
                s.groups.c.group_id.in_(sorted(group_ids))
            )
        ).all()
    )

    outcomes: list[tuple[int, str, str]] = []
    # (open sessions, reason) -> [(membership_id, row_no, pending items)]: the members
    # that share an audit event text and a ledger message are written together
    deactivate: dict[tuple[int, str | None], list] = defaultdict(list)
    read_only: dict[str | None, list] = defaultdict(list)
    guard: set[str] = set()  # groups where a Full Access member or an owner changes
    refused = {  # R4, as the groups are before the batch
        group_id: lockout_refusal(names.get(group_id, group_id), lacks[0])
        for group_id, counts in lockout_counts(conn, group_ids).items()
        if (lacks := lockout_lacks(counts))
    }
    handoffs = _handoffs(conn, ctx, numbers, at)
    handing: list[int] = []  # the rows deactivated whose hand-off goes ahead
    # membership id -> (group id, user id) of the members changed, as the locked read
    # found them: their audit events need no second read
    member_of: dict[int, tuple[str, str]] = {}
    for row in rows:
        # unpacked by position (the order _batch_rows selects in): this loop runs once
        # per member of the run
        (number, user_id, membership_id, _, _, status, access_level, is_read_only, owner) = row[:9]
        sessions, mask = row[9:]
        planned = ctx.planned[number]
        group_id = planned.group_id
        group = names.get(group_id, group_id)
        if user_id is None:
            outcomes.append((number, "stale", f"no user with email {planned.email!r}"))
            continue
        if planned.user_id and planned.user_id != user_id:  # identity: never trust the file
            message = f"user_id {planned.user_id!r} is not the user of {planned.email}; plan again"
            outcomes.append((number, "stale", message))
            continue
        if membership_id is None:
            outcomes.append((number, "stale", f"{planned.email} is not a member of {group}"))
            continue
        if group_id not in authority.ok:  # R1
            lack = authority.lack(group_id)
            outcomes.append((number, "blocked", f"not authorised at apply time: the actor {lack}"))
            continue
        action = planned.action
        if action == "deactivate" and status == "inactive":
            outcomes.append((number, "unchanged", "already inactive"))
            continue
        if action == "read_only" and status == "active" and is_read_only:
            outcomes.append((number, "unchanged", "already read-only"))
            continue
        if access_level == s.FULL:  # R3 (and R8): whatever the plan file says
            what = "deactivated" if action == "deactivate" else "made read-only"
            refusal = full_access_refusal(str(planned.email), str(group), cannot_be=what)
            outcomes.append((number, "blocked", refusal))
            continue
        pending = PENDING_BY_MASK[mask]
        sessions = int(sessions or 0)
        fingerprint = fingerprint_of(
            status, access_level, bool(is_read_only), bool(owner), sessions, pending
        )
        if planned.handoff is not None and action == "deactivate":
            fingerprint = with_handoff(fingerprint, planned.handoff, planned.appointments)
        if fingerprint != planned.fingerprint:
            outcomes.append((number, "stale", _stale_detail(planned, State.of(row))))
            continue
        stale_handoff = handoffs.stale.get(number)
        if stale_handoff is not None:
            outcomes.append((number, "stale", stale_handoff))
            continue
        if group_id in refused:
            outcomes.append((number, "blocked", refused[group_id]))
            continue
        if owner or access_level == s.FULL:
            guard.add(group_id)
        member_of[membership_id] = (group_id, user_id)
        reason = planned.reason
        if action == "deactivate":
            deactivate[(sessions, reason)].append((membership_id, number, pending))
            handing.append(number)
        else:
            read_only[reason].append((membership_id, number, pending))

    by_reason: dict[str | None, list[int]] = defaultdict(list)
    for (_, reason), members in deactivate.items():
        by_reason[reason].extend(mid for mid, _, _ in members)
    # conditional (R6): under the batch's locks every member is as read, so a count
    # short of the batch means something changed underneath, and the batch rolls back
    for reason, ids in by_reason.items():
        changed = set_status(conn, ids, "inactive", actor_id=ctx.actor_id, at=at, reason=reason)
        _expect(changed, len(ids), "deactivation")
    deactivated = [mid for ids in by_reason.values() for mid in ids]
    made_read_only = [mid for members in read_only.values() for mid, _, _ in members]
    revoke_sessions(conn, deactivated, at=at)
    _expect(make_read_only(conn, made_read_only), len(made_read_only), "read-only")
    if ctx.resolve_checklist:
        # each item for the members the locked read found it pending for: the others
        # have nothing to snapshot or change, so no statement need look at them
        pending_for: dict[str, list[int]] = defaultdict(list)
        for members in (*deactivate.values(), *read_only.values()):
            for mid, _, pending in members:
                for item in pending:
                    pending_for[item].append(mid)
        for item in PENDING_ITEMS:
            if pending_for[item]:
                resolve_items(
                    conn,
                    pending_for[item],
                    [item],
                    actor_id=ctx.actor_id,
                    at=at,
                    run_id=ctx.run_id,
                    report=False,
                )
    if guard:  # R3 keeps Full Access members and owners out of a plan; should one slip
        for group_id, lacks in locked_out_groups(conn, guard).items():  # in, roll back
            raise WouldLockOutGroup(lockout_refusal(names.get(group_id, group_id), lacks[0]))

    # the hand-off, after the deactivations it belongs to (offboard.handoff)
    handed_off = handoffs.apply(conn, handing, actor_id=ctx.actor_id, at=at, run_id=ctx.run_id)

    resolving = ctx.resolve_checklist
    for (sessions, reason), members in deactivate.items():
        record_for_each(
            conn,
            [member_of[mid] for mid in sorted(mid for mid, _, _ in members)],
            at=at,
            actor_id=ctx.actor_id,
            action=Action.DEACTIVATED,
            before={"status": "active"},
            after={"status": "inactive", "sessions_revoked": sessions},
            reason=reason,
            run_id=ctx.run_id,
        )
        for _, number, pending in members:
            message = _done_message(sessions, pending if resolving else None)
            if number in handed_off:
                message += f"; handed off {plural(handed_off[number], 'appointment')}"
            outcomes.append((number, "deactivated", message))
    for reason, members in read_only.items():
        record_for_each(
            conn,
            [member_of[mid] for mid in sorted(mid for mid, _, _ in members)],
            at=at,
            actor_id=ctx.actor_id,
            action=Action.ACCESS_CHANGED,
            before={"read_only": False},
            after={"read_only": True},
            reason=reason,
            run_id=ctx.run_id,
        )
        for _, number, pending in members:
            outcomes.append(
                (number, "read_only", _done_message(None, pending if resolving else None))
            )
    return outcomes


def _handoffs(
    conn: Connection, ctx: _Context, numbers: Sequence[int], at: datetime
) -> BatchHandoff:
    """The batch's hand-off rows checked against the database (``offboard.handoff``)."""
    rows: list[PlanRow] = []
    if ctx.handing_off:  # a plan without a hand-off (most) skips the batch's rows
        planned = [ctx.planned[n] for n in numbers]
        rows = [r for r in planned if r.handoff is not None and r.action == "deactivate"]
    return check_batch(conn, rows, ctx.planned_at, at)


@functools.lru_cache(maxsize=1024)
def _done_message(sessions: int | None, items: tuple[str, ...] | None) -> str:
    parts = []
    if sessions is not None:
        parts.append(f"signed out of {plural(sessions, 'session')}")
    else:
        parts.append("read-only; sessions kept")
    if items:
        parts.append(f"resolved {', '.join(items)}")
    return "; ".join(parts)


class _ChangedUnderneath(OpskitError):
    """A conditional update changed fewer rows than the locked read promised."""


def _expect(changed: int, count: int, what: str) -> None:
    if changed != count:
        raise _ChangedUnderneath(
            f"{what}: {changed} of {count} members changed; the batch is rolled back"
        )


@collector_paused
def resume_run(db: Database, run_id: str, *, progress: bool | None = True) -> RunSummary:
    """Finish a run whose process died: the pending rows only, nothing twice.

    A run that is done is returned as it is; an undone run cannot be resumed.
    """
    run_id = (run_id or "").strip()
    with db.begin() as conn:
        if bound(conn):  # docs/rules.md 9.1: an unmapped login changes nothing
            acting_user(conn, None)
        run = claim(conn, run_id, doing="resume")
        if run.state == "undone":
            raise Refused(f"run {run_id} was undone; plan again to offboard these members")
        undoing = RunOptions.from_json(run.options).undoing
        if undoing and run.state != "done":  # an undo that stopped part-way: finish it
            actor = conn.execute(
                select(s.users.c.email).where(s.users.c.user_id == undoing)
            ).scalar_one()
        elif run.state != "done":
            take_over(conn, run_id)
    if undoing and run.state != "done":
        from .undo import undo_run

        undo_run(db, run_id, actor=actor, progress=progress)
        return run_summary(db, run_id)
    if run.state != "done":
        options = RunOptions.from_json(run.options)
        with db.read() as conn:
            plan = Plan.from_stored(stored_plan(conn, run_id), name=f"run {run_id}")
        _drive(db, run_id, plan, options, progress)
    return run_summary(db, run_id)
